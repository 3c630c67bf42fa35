package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/store"
)

// catalogServer serves the API with a catalog over its store; set, when
// not nil, sets further roles.
func catalogServer(t *testing.T, set func(c *Config)) (*httptest.Server, *store.Store, *catalog.Catalog) {
	t.Helper()
	var cat *catalog.Catalog
	srv, st, _ := testAPI(t, func(c *Config) {
		var err error
		cat, err = catalog.New(catalog.Config{Store: c.Store.(*store.Store), Node: "node-a",
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := cat.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		c.Catalog = cat
		if set != nil {
			set(c)
		}
	})
	t.Cleanup(func() { cat.Close() }) // before the store closes
	return srv, st, cat
}

// catalogRecords returns the live keys of the catalog table.
func catalogRecords(t *testing.T, st *store.Store) []string {
	t.Helper()
	var keys []string
	err := st.View(func(tx *store.Tx) error {
		return tx.Scan(catalog.Table, "", func(e *store.Entry) error {
			if !e.Deleted {
				keys = append(keys, e.Key)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestConsulClientServices(t *testing.T) {
	srv, st, _ := catalogServer(t, nil)
	agent := consulClient(t, srv).Agent()

	err := agent.ServiceRegister(&consul.AgentServiceRegistration{
		ID: "web-1", Name: "web", Tags: []string{"v1"}, Port: 8080, Address: "127.0.0.1",
		Meta:  map[string]string{"version": "1"},
		Check: &consul.AgentServiceCheck{TTL: "30s", Notes: "reported by the app"},
	})
	if err != nil {
		t.Fatalf("ServiceRegister: %v", err)
	}
	services, err := agent.Services()
	if err != nil {
		t.Fatal(err)
	}
	s := services["web-1"]
	if len(services) != 1 || s == nil || s.Service != "web" || s.Port != 8080 || s.Address != "127.0.0.1" ||
		s.Tags[0] != "v1" || s.Meta["version"] != "1" || s.Weights != (consul.AgentWeights{Passing: 1, Warning: 1}) || s.Datacenter != "dc1" {
		t.Fatalf("Services = %+v", services)
	}
	if one, _, err := agent.Service("web-1", nil); err != nil || one.Service != "web" {
		t.Fatalf("Service = %+v, %v", one, err)
	}
	checks, err := agent.Checks()
	if err != nil {
		t.Fatal(err)
	}
	c := checks["service:web-1"]
	if len(checks) != 1 || c == nil || c.Status != consul.HealthCritical || c.ServiceID != "web-1" || c.ServiceName != "web" ||
		c.Type != "ttl" || c.Node != "node-a" || c.Notes != "reported by the app" || c.Name != "Service 'web' check" {
		t.Fatalf("Checks = %+v", checks)
	}

	status := func(want, output string) {
		t.Helper()
		checks, err := agent.Checks()
		if err != nil {
			t.Fatal(err)
		}
		if c := checks["service:web-1"]; c.Status != want || c.Output != output {
			t.Fatalf("check %+v, want %s %q", c, want, output)
		}
	}
	if err := agent.UpdateTTL("service:web-1", "all good", consul.HealthPassing); err != nil {
		t.Fatalf("UpdateTTL: %v", err)
	}
	status(consul.HealthPassing, "all good")
	if err := agent.WarnTTL("service:web-1", "slow"); err != nil {
		t.Fatal(err)
	}
	status(consul.HealthWarning, "slow")
	if err := agent.PassTTL("service:web-1", ""); err != nil {
		t.Fatal(err)
	}
	status(consul.HealthPassing, "")
	if err := agent.FailTTL("service:web-1", "down"); err != nil {
		t.Fatal(err)
	}
	status(consul.HealthCritical, "down")
	if err := agent.PassTTL("missing", ""); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("PassTTL(missing) = %v", err)
	}

	// Re-registering with replace-existing-checks drops the old check.
	err = agent.ServiceRegisterOpts(&consul.AgentServiceRegistration{ID: "web-1", Name: "web",
		Check: &consul.AgentServiceCheck{CheckID: "web-ttl", TTL: "1m", Status: consul.HealthPassing}},
		consul.ServiceRegisterOpts{ReplaceExistingChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	if checks, _ := agent.Checks(); len(checks) != 1 || checks["web-ttl"] == nil || checks["web-ttl"].Status != consul.HealthPassing {
		t.Fatalf("after replace: %+v", checks)
	}
	if keys := catalogRecords(t, st); len(keys) != 2 {
		t.Fatalf("records %v", keys)
	}

	if err := agent.ServiceDeregister("web-1"); err != nil {
		t.Fatal(err)
	}
	if services, _ := agent.Services(); len(services) != 0 {
		t.Fatalf("after deregister: %+v", services)
	}
	if keys := catalogRecords(t, st); len(keys) != 0 {
		t.Fatalf("records after deregister: %v", keys)
	}
	if err := agent.ServiceDeregister("web-1"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("second deregister: %v", err)
	}
}

// What this agent does not support is refused with a 400 that says so,
// and changes nothing.
func TestConsulClientRefusals(t *testing.T) {
	srv, st, _ := catalogServer(t, nil)
	agent := consulClient(t, srv).Agent()
	for _, tc := range []struct {
		reg  consul.AgentServiceRegistration
		want string
	}{
		{consul.AgentServiceRegistration{Name: "web", Check: &consul.AgentServiceCheck{GRPC: "127.0.0.1:9000", Interval: "10s"}}, "gRPC checks are not supported"},
		{consul.AgentServiceRegistration{Name: "web", Checks: consul.AgentServiceChecks{{TTL: "10s"}, {UDP: "127.0.0.1:53", Interval: "10s"}}}, "UDP checks are not supported"},
		{consul.AgentServiceRegistration{Name: "web", Check: &consul.AgentServiceCheck{HTTP: "file:///etc/passwd", Interval: "10s"}}, "http:// or https://"},
		{consul.AgentServiceRegistration{Name: "web", Check: &consul.AgentServiceCheck{TCP: "127.0.0.1:80", Interval: "100ms"}}, "Interval"},
		// Script checks run commands: never through the API.
		{consul.AgentServiceRegistration{Name: "web", Check: &consul.AgentServiceCheck{Args: []string{"/bin/sh", "-c", "id"}, Interval: "10s"}}, "remote code execution"},
		{consul.AgentServiceRegistration{Name: "web", Checks: consul.AgentServiceChecks{{TTL: "10s"}, {Args: []string{"/bin/true"}, Interval: "10s"}}}, "remote code execution"},
		{consul.AgentServiceRegistration{Name: "web-proxy", Kind: consul.ServiceKindConnectProxy}, "Kind"},
		{consul.AgentServiceRegistration{Name: "web", Connect: &consul.AgentServiceConnect{Native: true}}, "Connect"},
		{consul.AgentServiceRegistration{Name: "web", Namespace: "team"}, "Namespace"},
	} {
		err := agent.ServiceRegister(&tc.reg)
		if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want a 400 about %q", tc.reg, err, tc.want)
		}
	}
	if keys := catalogRecords(t, st); len(keys) != 0 {
		t.Fatalf("refused registrations wrote %v", keys)
	}
	code, body := send(t, http.MethodPut, srv.URL+"/v1/agent/service/register?ns=x", "", "", `{"Name":"web"}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "namespaces") {
		t.Fatalf("?ns: %d %s", code, body)
	}
	code, body = send(t, http.MethodGet, srv.URL+"/v1/agent/services?filter=Service==", "", "", "")
	if code != http.StatusBadRequest || !strings.Contains(body, "boolean expression") {
		t.Fatalf("?filter that does not parse: %d %s", code, body)
	}
	code, _ = send(t, http.MethodPut, srv.URL+"/v1/agent/check/update/x", "", "", `{"Status":"passing","Extra":1}`)
	if code != http.StatusBadRequest {
		t.Fatalf("update with an unknown field: %d", code)
	}
	for _, body := range []string{
		`{"Name":"web","Check":{"script_args":["/bin/true"],"Interval":"10s"}}`,
		`{"Name":"web","Check":{"args":["/bin/true"],"interval":"10s"}}`,
		`{"Name":"web","Check":{"DockerContainerID":"c","Args":["/bin/true"],"Interval":"10s"}}`,
	} {
		code, body := send(t, http.MethodPut, srv.URL+"/v1/agent/service/register", "", "", body)
		if code != http.StatusBadRequest {
			t.Fatalf("a script check: %d %s", code, body)
		}
	}
	if keys := catalogRecords(t, st); len(keys) != 0 {
		t.Fatalf("refused registrations wrote %v", keys)
	}
}

// HTTP and TCP checks register through Consul's client and show their
// type and definition; the agent runs them, so they take no TTL report.
// A check of a server that never answers does not hold the registration
// or the agent's shutdown.
func TestConsulClientActiveChecks(t *testing.T) {
	srv, _, _ := catalogServer(t, nil)
	agent := consulClient(t, srv).Agent()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	err := agent.ServiceRegister(&consul.AgentServiceRegistration{Name: "web", Checks: consul.AgentServiceChecks{
		{CheckID: "web-http", HTTP: slow.URL + "/health", Interval: "1s", Timeout: "3s", Method: "HEAD",
			Header: map[string][]string{"X-Probe": {"1"}}, DeregisterCriticalServiceAfter: "10m", FailuresBeforeCritical: 2},
		{CheckID: "web-tcp", TCP: "127.0.0.1:1", Interval: "1m"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	checks, err := agent.Checks()
	if err != nil {
		t.Fatal(err)
	}
	h, tcp := checks["web-http"], checks["web-tcp"]
	if h == nil || h.Type != "http" || h.Definition.IntervalDuration != time.Second || h.Definition.TimeoutDuration != 3*time.Second ||
		h.Definition.HTTP != slow.URL+"/health" || h.Definition.Method != "HEAD" || h.Definition.Header["X-Probe"][0] != "1" ||
		h.Definition.DeregisterCriticalServiceAfterDuration != 10*time.Minute {
		t.Fatalf("HTTP check %+v", h)
	}
	if tcp == nil || tcp.Type != "tcp" || tcp.Definition.TCP != "127.0.0.1:1" || tcp.Definition.TimeoutDuration != 10*time.Second {
		t.Fatalf("TCP check %+v", tcp)
	}
	if err := agent.PassTTL("web-http", ""); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("PassTTL of an HTTP check: %v", err)
	}
}

// The service endpoints follow Consul's service rules: write on the
// service to change it, read to see it; listings are filtered.
func TestServiceACL(t *testing.T) {
	const (
		webToken = "web-token-0123456789" // writes web, reads nothing else
		allToken = "all-token-0123456789" // writes every service
	)
	res, err := acl.NewResolver(acl.Config{
		DefaultAllow: false,
		Tokens: []acl.Token{
			{Secret: webToken, Description: "web", Policy: acl.Compile(acl.Rules{Service: map[string]acl.Access{"web": acl.Write}})},
			{Secret: allToken, Description: "all", Policy: acl.Compile(acl.Rules{ServicePrefix: map[string]acl.Access{"": acl.Write}})},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, _, _ := catalogServer(t, func(c *Config) { c.ACL = func() *acl.Resolver { return res } })
	put := func(token, path, body string) int {
		code, _ := send(t, http.MethodPut, srv.URL+path, "X-Consul-Token", token, body)
		return code
	}
	for _, tc := range []struct {
		token, path, body string
		want              int
	}{
		{"", "/v1/agent/service/register", `{"Name":"web","Check":{"TTL":"1m"}}`, http.StatusForbidden},
		{webToken, "/v1/agent/service/register", `{"Name":"db","Check":{"TTL":"1m"}}`, http.StatusForbidden},
		{webToken, "/v1/agent/service/register", `{"Name":"web","Check":{"TTL":"1m"}}`, http.StatusOK},
		{allToken, "/v1/agent/service/register", `{"Name":"db","Check":{"TTL":"1m"}}`, http.StatusOK},
		// Taking over web's ID under another name needs write on web too.
		{webToken, "/v1/agent/service/register", `{"ID":"db","Name":"web"}`, http.StatusForbidden},
		{webToken, "/v1/agent/check/pass/service:db", "", http.StatusForbidden},
		{webToken, "/v1/agent/check/pass/service:web", "", http.StatusOK},
		{"", "/v1/agent/check/pass/service:web", "", http.StatusForbidden},
		{webToken, "/v1/agent/service/deregister/db", "", http.StatusForbidden},
	} {
		if got := put(tc.token, tc.path, tc.body); got != tc.want {
			t.Errorf("%s %s %s: %d, want %d", tc.token, tc.path, tc.body, got, tc.want)
		}
	}
	code, body, h := sendFull(t, http.MethodGet, srv.URL+"/v1/agent/services", "X-Consul-Token", webToken, "")
	if code != http.StatusOK || !strings.Contains(body, `"web"`) || strings.Contains(body, `"db"`) || h.Get("X-Consul-Results-Filtered-By-ACLs") != "true" {
		t.Fatalf("filtered services: %d %s %v", code, body, h)
	}
	code, body = send(t, http.MethodGet, srv.URL+"/v1/agent/checks", "X-Consul-Token", webToken, "")
	if code != http.StatusOK || !strings.Contains(body, "service:web") || strings.Contains(body, "service:db") {
		t.Fatalf("filtered checks: %d %s", code, body)
	}
	if code, _ := send(t, http.MethodGet, srv.URL+"/v1/agent/service/db", "X-Consul-Token", webToken, ""); code != http.StatusForbidden {
		t.Fatalf("GET another service: %d", code)
	}
	if code := put(allToken, "/v1/agent/service/deregister/db", ""); code != http.StatusOK {
		t.Fatalf("deregister with write: %d", code)
	}
}

// A hostile local client: bodies that are not JSON or too large, IDs that
// would name another node's records or climb out of the key space, a
// Connect proxy. Each gets 400 or 413, and nothing is written.
func TestServiceRegisterAttacks(t *testing.T) {
	srv, st, _ := catalogServer(t, nil)
	big := `{"Name":"web","Meta":{"k":"` + strings.Repeat("x", catalog.MaxRegistrationSize) + `"}}`
	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"not JSON", "/v1/agent/service/register", "\x00\xff<xml/>", http.StatusBadRequest},
		{"two values", "/v1/agent/service/register", `{"Name":"a"}{"Name":"b"}`, http.StatusBadRequest},
		{"oversized", "/v1/agent/service/register", big, http.StatusRequestEntityTooLarge},
		{"another node's ID", "/v1/agent/service/register", `{"ID":"../node-b/web","Name":"web"}`, http.StatusBadRequest},
		{"slash in ID", "/v1/agent/service/register", `{"ID":"node-b/web","Name":"web"}`, http.StatusBadRequest},
		{"dot-dot ID", "/v1/agent/service/register", `{"ID":"..","Name":"web"}`, http.StatusBadRequest},
		{"slash in check ID", "/v1/agent/service/register", `{"Name":"web","Check":{"TTL":"1m","CheckID":"../../svc/node-b/db"}}`, http.StatusBadRequest},
		{"connect proxy", "/v1/agent/service/register", `{"Name":"web-proxy","Kind":"connect-proxy","Proxy":{"DestinationServiceName":"web"}}`, http.StatusBadRequest},
		{"escaped slash", "/v1/agent/check/pass/..%2Fnode-b%2Fx", "", 0}, // any refusal
		{"update oversized", "/v1/agent/check/update/x", `{"Output":"` + strings.Repeat("y", maxCheckUpdateSize) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		code, body := send(t, http.MethodPut, srv.URL+tc.path, "", "", tc.body)
		if code != tc.want && (tc.want != 0 || code < 300) {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	if keys := catalogRecords(t, st); len(keys) != 0 {
		t.Fatalf("attacks wrote %v", keys)
	}
	if st.Index() != 1 {
		t.Fatalf("attacks moved the store's index to %d", st.Index())
	}
}
