package api_test

import (
	"testing"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
)

func TestServices(t *testing.T) {
	a := apitest.Start(t)
	ctx := t.Context()
	err := a.Client.ServiceRegister(ctx, api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 8080,
		TaggedAddresses: map[string]api.ServiceAddress{"lan": {Address: "10.0.0.1", Port: 80}},
		Weights:         &api.AgentWeights{Passing: 5, Warning: 1},
		Checks:          []*api.AgentServiceCheck{{TTL: "1m", Status: "passing"}, {CheckID: "disk", TTL: "5m"}}})
	if err != nil {
		t.Fatal(err)
	}
	services, err := a.Client.Services(ctx)
	if s := services["web-1"]; err != nil || len(services) != 1 || s.Service != "web" || s.Port != 8080 ||
		s.Weights.Passing != 5 || s.TaggedAddresses["lan"].Address != "10.0.0.1" {
		t.Fatalf("Services = %+v, %v", services, err)
	}
	checks, err := a.Client.Checks(ctx)
	if err != nil || len(checks) != 2 || checks["service:web-1:1"].Status != "passing" || checks["disk"].Status != "critical" ||
		checks["disk"].Definition.TTL != "5m0s" {
		t.Fatalf("Checks = %+v, %v", checks, err)
	}
	for _, step := range []struct {
		report func() error
		want   string
	}{
		{func() error { return a.Client.CheckPass(ctx, "disk", "ok") }, "passing"},
		{func() error { return a.Client.CheckWarn(ctx, "disk", "80%") }, "warning"},
		{func() error { return a.Client.CheckFail(ctx, "disk", "") }, "critical"},
	} {
		if err := step.report(); err != nil {
			t.Fatal(err)
		}
		if checks, _ := a.Client.Checks(ctx); checks["disk"].Status != step.want {
			t.Fatalf("disk %+v, want %s", checks["disk"], step.want)
		}
	}
	if err := a.Client.CheckPass(ctx, "missing", ""); !api.IsNotFound(err) {
		t.Fatalf("CheckPass(missing) = %v", err)
	}
	err = a.Client.ServiceRegister(ctx, api.AgentServiceRegistration{Name: "web", Check: &api.AgentServiceCheck{Status: "passing"}})
	if err == nil {
		t.Fatal("a check without TTL was accepted")
	}
	if err := a.Client.ServiceDeregister(ctx, "web-1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Client.ServiceDeregister(ctx, "web-1"); !api.IsNotFound(err) {
		t.Fatalf("second deregister = %v", err)
	}
}

// An HTTP check round-trips through the typed client: its definition
// comes back in Checks.
func TestServicesActiveCheck(t *testing.T) {
	a := apitest.Start(t)
	ctx := t.Context()
	err := a.Client.ServiceRegister(ctx, api.AgentServiceRegistration{Name: "web", Check: &api.AgentServiceCheck{
		CheckID: "web-http", CheckTarget: api.CheckTarget{HTTP: "http://127.0.0.1:1/health", Method: "GET", Interval: "30s",
			Timeout: "2s", Header: map[string][]string{"X-Probe": {"1"}}}, SuccessBeforePassing: 2, FailuresBeforeCritical: 3,
		DeregisterCriticalServiceAfter: "5m"}})
	if err != nil {
		t.Fatal(err)
	}
	checks, err := a.Client.Checks(ctx)
	c := checks["web-http"]
	if err != nil || c.Type != "http" || c.Interval != "30s" || c.Timeout != "2s" || c.Definition.HTTP != "http://127.0.0.1:1/health" ||
		c.Definition.Header["X-Probe"][0] != "1" || c.Definition.DeregisterCriticalServiceAfter != "5m0s" || c.Definition.TTL != "" {
		t.Fatalf("Checks = %+v, %v", checks, err)
	}
	if err := a.Client.CheckPass(ctx, "web-http", ""); err == nil {
		t.Fatal("a TTL report of an HTTP check was accepted")
	}
}
