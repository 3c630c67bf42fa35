package api_test

import (
	"testing"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
)

func TestMaintenance(t *testing.T) {
	a := apitest.Start(t)
	ctx := t.Context()
	if err := a.Client.ServiceRegister(ctx, api.AgentServiceRegistration{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Client.EnableNodeMaintenance(ctx, "reboot & patch"); err != nil {
		t.Fatal(err)
	}
	if err := a.Client.EnableServiceMaintenance(ctx, "web", ""); err != nil {
		t.Fatal(err)
	}
	checks, err := a.Client.Checks(ctx)
	if err != nil || checks["_node_maintenance"].Notes != "reboot & patch" || checks["_node_maintenance"].Status != "critical" ||
		checks["_service_maintenance:web"].ServiceID != "web" {
		t.Fatalf("Checks = %+v, %v", checks, err)
	}
	if err := a.Client.EnableServiceMaintenance(ctx, "nope", ""); !api.IsNotFound(err) {
		t.Fatalf("unknown service: %v", err)
	}
	if err := a.Client.DisableNodeMaintenance(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Client.DisableServiceMaintenance(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if checks, _ := a.Client.Checks(ctx); len(checks) != 0 {
		t.Fatalf("Checks after disabling = %+v", checks)
	}
}
