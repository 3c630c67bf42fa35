package cli

import (
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/internal/apitest"
)

func TestMaintCommand(t *testing.T) {
	a := apitest.Start(t)
	run(t, a.Addr, `{"ID":"web-1","Name":"web"}`, "services", "register", "-").expect(t, 0, "Registered service: web\n", "")

	run(t, a.Addr, "", "maint", "-enable", "-reason", "new disk").expect(t, 0, "Node entered maintenance mode\n", "")
	run(t, a.Addr, "", "maint", "-enable", "-service", "web-1").expect(t, 0, "Service entered maintenance mode: web-1\n", "")
	run(t, a.Addr, "", "maint", "-enable", "-service", "nope").expect(t, 1, "", "404")
	r := run(t, a.Addr, "", "maint")
	if r.code != 0 || !strings.Contains(r.stdout, "Reason: new disk") || !strings.Contains(r.stdout, "ID:     web-1") ||
		!strings.HasPrefix(r.stdout, "Node:") {
		t.Fatalf("maint = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if cs, ok := a.Catalog.CheckByID("_service_maintenance:web-1"); !ok || !strings.Contains(cs.Notes, "no reason was provided") {
		t.Fatalf("service maintenance check %+v", cs)
	}

	run(t, a.Addr, "", "maint", "-enable", "-disable").expect(t, 1, "", "exclusive")
	run(t, a.Addr, "", "maint", "-disable", "-reason", "x").expect(t, 1, "", "-reason goes with -enable")
	run(t, a.Addr, "", "maint", "-service", "web-1").expect(t, 1, "", "-service goes with")
	run(t, a.Addr, "", "maint", "extra").expect(t, 1, "", "takes no arguments")

	run(t, a.Addr, "", "maint", "-disable", "-service", "web-1").expect(t, 0, "Service maintenance is now disabled: web-1\n", "")
	run(t, a.Addr, "", "maint", "-disable").expect(t, 0, "Node maintenance is now disabled\n", "")
	run(t, a.Addr, "", "maint").expect(t, 0, "", "")
	if n := len(a.Catalog.Checks()); n != 0 {
		t.Fatalf("%d checks left", n)
	}
}
