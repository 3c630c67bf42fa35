package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/internal/apitest"
)

func TestServicesCommands(t *testing.T) {
	a := apitest.Start(t)
	file := filepath.Join(t.TempDir(), "web.json")
	os.WriteFile(file, []byte(`{"service": {"ID": "web-1", "Name": "web", "Port": 8080, "Tags": ["v1"],
		"Check": {"TTL": "1m"}}}`), 0o600)
	run(t, a.Addr, "", "services", "register", file).expect(t, 0, "Registered service: web\n", "")
	run(t, a.Addr, `{"Name":"db","Checks":[{"TTL":"1m"},{"TTL":"2m"}]}`, "services", "register", "-").
		expect(t, 0, "Registered service: db\n", "")
	run(t, a.Addr, `{"Name":"web","Check":{"Args":["/bin/true"],"Interval":"10s"}}`, "services", "register", "-").
		expect(t, 1, "", "remote code execution")
	run(t, a.Addr, "", "services", "register", file+".missing").expect(t, 1, "", "no such file")

	run(t, a.Addr, "", "check", "pass", "-note", "ready", "service:web-1").expect(t, 0, "", "")
	run(t, a.Addr, "", "check", "warn", "service:db:1").expect(t, 0, "", "")
	run(t, a.Addr, "", "check", "fail", "missing").expect(t, 1, "", "404")
	checks := a.Catalog.Checks()
	if len(checks) != 3 || checks[0].ID != "service:db:1" || checks[0].Status != "warning" ||
		checks[2].ID != "service:web-1" || checks[2].Status != "passing" || checks[2].Output != "ready" {
		t.Fatalf("checks %+v", checks)
	}

	r := run(t, a.Addr, "", "services", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") ||
		!strings.Contains(lines[1], "service:db:1=warning service:db:2=critical") ||
		!strings.Contains(lines[2], "web-1") || !strings.Contains(lines[2], "8080") || !strings.Contains(lines[2], "service:web-1=passing") {
		t.Fatalf("services list = %d %q %q", r.code, r.stdout, r.stderr)
	}

	run(t, a.Addr, "", "services", "deregister", "web-1").expect(t, 0, "Deregistered service: web-1\n", "")
	run(t, a.Addr, "", "services", "deregister", "web-1").expect(t, 1, "", "404")
	if _, ok := a.Catalog.Service("web-1"); ok {
		t.Fatal("web-1 still registered")
	}
}

func TestCatalogCommands(t *testing.T) {
	a := apitest.Start(t)
	run(t, a.Addr, `{"ID":"web-1","Name":"web","Port":8080,"Tags":["v1"],"Check":{"TTL":"1m","Status":"passing"}}`,
		"services", "register", "-").expect(t, 0, "Registered service: web\n", "")
	run(t, a.Addr, `{"ID":"web-2","Name":"web","Port":8081,"Tags":["v2"],"Check":{"TTL":"1m"}}`,
		"services", "register", "-").expect(t, 0, "Registered service: web\n", "")

	r := run(t, a.Addr, "", "catalog", "services")
	if r.code != 0 || !strings.Contains(r.stdout, "web") || !strings.Contains(r.stdout, "v1,v2") {
		t.Fatalf("catalog services = %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = run(t, a.Addr, "", "catalog", "service", "web")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 3 || !strings.Contains(lines[1], "web-1") || !strings.Contains(lines[2], "service:web-2=critical") ||
		!strings.Contains(lines[1], "serfHealth=passing") {
		t.Fatalf("catalog service web = %d %q %q", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{{"-passing"}, {"-tag", "v1"}, {"-site", apitest.Site, "-passing"}} {
		r = run(t, a.Addr, "", append(append([]string{"catalog", "service"}, args...), "web")...)
		lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || len(lines) != 2 || !strings.Contains(lines[1], "web-1") {
			t.Fatalf("catalog service %v web = %d %q %q", args, r.code, r.stdout, r.stderr)
		}
	}
	r = run(t, a.Addr, "", "catalog", "service", "-site", "elsewhere", "web")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 1 || !strings.HasPrefix(r.stdout, "Node") {
		t.Fatalf("catalog service -site elsewhere web = %d %q %q", r.code, r.stdout, r.stderr)
	}
}
