package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/catalog"
)

// Consul's client puts the node and a service in maintenance and takes
// them out; the checks carry Consul's IDs, names and notes.
func TestConsulClientMaintenance(t *testing.T) {
	srv, st, cat := catalogServer(t, nil)
	agent := consulClient(t, srv).Agent()
	if code, body := send(t, http.MethodPut, srv.URL+"/v1/agent/service/register", "", "", `{"Name":"web"}`); code != http.StatusOK {
		t.Fatalf("register: %d %s", code, body)
	}
	if err := agent.EnableNodeMaintenance("rebooting"); err != nil {
		t.Fatal(err)
	}
	if err := agent.EnableServiceMaintenance("web", ""); err != nil {
		t.Fatal(err)
	}
	checks, err := agent.Checks()
	if err != nil {
		t.Fatal(err)
	}
	node, svc := checks[catalog.NodeMaintCheckID], checks["_service_maintenance:web"]
	if node == nil || node.Name != "Node Maintenance Mode" || node.Notes != "rebooting" || node.Status != "critical" || node.ServiceID != "" ||
		node.Type != "maintenance" {
		t.Errorf("node maintenance check %+v", node)
	}
	// A maintenance check has no TTL to show.
	if _, body := send(t, http.MethodGet, srv.URL+"/v1/agent/checks", "", "", ""); strings.Contains(body, `"TTL":"0s"`) {
		t.Errorf("/v1/agent/checks shows a TTL of 0s: %s", body)
	}
	if svc == nil || svc.Name != "Service Maintenance Mode" || svc.Notes != catalog.DefaultServiceMaintReason ||
		svc.Status != "critical" || svc.ServiceID != "web" || svc.ServiceName != "web" {
		t.Errorf("service maintenance check %+v", svc)
	}
	if keys := strings.Join(catalogRecords(t, st), " "); !strings.Contains(keys, "chk/node-a/_node_maintenance") ||
		!strings.Contains(keys, "chk/node-a/_service_maintenance:web") {
		t.Errorf("records %s", keys)
	}
	if err := agent.EnableServiceMaintenance("nope", ""); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown service: %v", err)
	}
	if err := agent.DisableNodeMaintenance(); err != nil {
		t.Fatal(err)
	}
	if err := agent.DisableServiceMaintenance("web"); err != nil {
		t.Fatal(err)
	}
	if n := len(cat.Checks()); n != 0 {
		t.Errorf("%d checks after disabling", n)
	}
}

// The node's maintenance takes agent write, a service's takes write on
// the service: without a token, or with another service's, 403.
func TestMaintenanceACL(t *testing.T) {
	const webToken = "web-token-0123456789"
	const opToken = "operator-token-0123"
	res, err := acl.NewResolver(acl.Config{
		Tokens: []acl.Token{
			{Secret: webToken, Description: "web", Policy: acl.Compile(acl.Rules{Service: map[string]acl.Access{"web": acl.Write}})},
			{Secret: opToken, Description: "operator", Policy: acl.Compile(acl.Rules{Agent: acl.Write,
				ServicePrefix: map[string]acl.Access{"": acl.Write}})},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, _, _ := catalogServer(t, func(c *Config) { c.ACL = func() *acl.Resolver { return res } })
	put := func(token, path string) int {
		code, _ := send(t, http.MethodPut, srv.URL+path, "X-Consul-Token", token, "")
		return code
	}
	if code, _ := send(t, http.MethodPut, srv.URL+"/v1/agent/service/register", "X-Consul-Token", opToken, `{"Name":"db"}`); code != http.StatusOK {
		t.Fatal(code)
	}
	if code, _ := send(t, http.MethodPut, srv.URL+"/v1/agent/service/register", "X-Consul-Token", opToken, `{"Name":"web"}`); code != http.StatusOK {
		t.Fatal(code)
	}
	for _, tc := range []struct {
		token, path string
		want        int
	}{
		{"", "/v1/agent/maintenance?enable=true", http.StatusForbidden},
		{webToken, "/v1/agent/maintenance?enable=true", http.StatusForbidden},
		{"", "/v1/agent/service/maintenance/web?enable=true", http.StatusForbidden},
		{webToken, "/v1/agent/service/maintenance/db?enable=true", http.StatusForbidden},
		{webToken, "/v1/agent/service/maintenance/web?enable=true", http.StatusOK},
		{opToken, "/v1/agent/maintenance?enable=true", http.StatusOK},
		{opToken, "/v1/agent/service/maintenance/db?enable=false", http.StatusOK},
	} {
		if got := put(tc.token, tc.path); got != tc.want {
			t.Errorf("%q %s: %d, want %d", tc.token, tc.path, got, tc.want)
		}
	}
}

// A hostile local client: a missing or bad enable, a huge reason, another
// parameter, a path that climbs. Each gets 400 (or another refusal) and
// nothing is written.
func TestMaintenanceAttacks(t *testing.T) {
	srv, st, _ := catalogServer(t, nil)
	huge := url.QueryEscape(strings.Repeat("x", catalog.MaxMaintReason+1))
	for _, tc := range []struct {
		name, path string
		want       int
	}{
		{"no enable", "/v1/agent/maintenance", http.StatusBadRequest},
		{"empty enable", "/v1/agent/maintenance?enable=", http.StatusBadRequest},
		{"bad enable", "/v1/agent/maintenance?enable=yes%00please", http.StatusBadRequest},
		{"huge reason", "/v1/agent/maintenance?enable=true&reason=" + huge, http.StatusBadRequest},
		{"huger query", "/v1/agent/maintenance?enable=true&reason=" + strings.Repeat("%41", 4096), http.StatusBadRequest},
		{"control characters", "/v1/agent/maintenance?enable=true&reason=%07%1b%5b2J", http.StatusBadRequest},
		{"other parameter", "/v1/agent/maintenance?enable=true&node=other", http.StatusBadRequest},
		{"malformed query", "/v1/agent/maintenance?enable=true&reason=%zz", http.StatusBadRequest},
		{"escaped slash", "/v1/agent/service/maintenance/..%2F..%2Fnode-b?enable=true", 0},
		{"unknown service", "/v1/agent/service/maintenance/nope?enable=true", http.StatusNotFound},
	} {
		code, body := send(t, http.MethodPut, srv.URL+tc.path, "", "", "")
		if code != tc.want && (tc.want != 0 || code < 300) {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	if code, _ := send(t, http.MethodGet, srv.URL+"/v1/agent/maintenance?enable=true", "", "", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", code)
	}
	if keys := catalogRecords(t, st); len(keys) != 0 {
		t.Fatalf("attacks wrote %v", keys)
	}
}

func FuzzParseMaintQuery(f *testing.F) {
	for _, s := range []string{"enable=true", "enable=false&reason=disk", "enable=", "", "enable=yes", "%zz",
		"enable=1&enable=0", "reason=x", "enable=true&reason=" + strings.Repeat("r", 5000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		enable, reason, err := parseMaintQuery(raw)
		if err != nil {
			return
		}
		if len(raw) > maxMaintQuery || len(reason) > len(raw) {
			t.Fatalf("accepted %d bytes, reason of %d", len(raw), len(reason))
		}
		q, _ := url.ParseQuery(raw)
		if want := q.Get("enable"); want == "" || (enable != (want == "true" || want == "1" || want == "t" || want == "T" || want == "TRUE" || want == "True")) {
			t.Fatalf("enable %v from %q", enable, raw)
		}
	})
}
