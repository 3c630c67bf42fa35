package httpapi

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"
)

// recordingMesh is a fakeMesh that records the state-changing calls that
// reach it.
type recordingMesh struct {
	fakeMesh
	mu    sync.Mutex
	calls []string
}

func (m *recordingMesh) record(call string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, call)
}

func (m *recordingMesh) recorded() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.calls...)
}

func (m *recordingMesh) Join(addrs []string) (int, error) {
	m.record("join " + strings.Join(addrs, ","))
	return len(addrs), nil
}

func (m *recordingMesh) Leave() error {
	m.record("leave")
	return nil
}

// guardedServer serves the API with a recording mesh and a host policy
// naming edge.example and 192.0.2.10.
func guardedServer(t *testing.T) (*httptest.Server, *recordingMesh, *API) {
	t.Helper()
	mesh := &recordingMesh{}
	srv, _, api := testAPI(t, func(c *Config) {
		c.Mesh = mesh
		c.Hosts = HostPolicy{Hosts: []string{"edge.example", "192.0.2.10", "EdgeUpper.Example."}}
	})
	return srv, mesh, api
}

func TestHostRule(t *testing.T) {
	g := newGuard(HostPolicy{Hosts: []string{"edge.example", "192.0.2.10", "2001:db8::7", "EdgeUpper.Example.", ""}})
	for _, tt := range []struct {
		host string
		want bool
	}{
		// Loopback names, with or without a port.
		{"127.0.0.1:8500", true},
		{"127.0.0.1", true},
		{"127.9.8.7:1", true},
		{"localhost", true},
		{"LocalHost:8500", true},
		{"localhost.:8500", true},
		{"[::1]:8500", true},
		{"[::1]", true},
		{"::1", true},
		{"[::ffff:127.0.0.1]:8500", true},
		// This node's addresses and the configured names.
		{"edge.example", true},
		{"EDGE.example:8500", true},
		{"edge.example.", true},
		{"edgeupper.example", true},
		{"192.0.2.10:8500", true},
		{"[2001:db8::7]:8500", true},
		// HTTP/1.0 without Host.
		{"", true},
		// Everything else.
		{"evil.example", false},
		{"evil.example:8500", false},
		{"localhost.evil.example", false},
		{"127.0.0.1.nip.io", false},
		{"edge.example.evil.example", false},
		{"192.0.2.99", false},
		{"0.0.0.0:8500", false},
		{"[::]:8500", false},
		{"[fe80::1%eth0]:8500", false},
		{"10.1.2.3", false},
	} {
		if got := g.hostAllowed(tt.host); got != tt.want {
			t.Errorf("hostAllowed(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestHostRuleInterfaceAddrs(t *testing.T) {
	ifaces := func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.ParseIP("192.0.2.44"), Mask: net.CIDRMask(24, 32)},
			&net.IPNet{IP: net.ParseIP("2001:db8::44"), Mask: net.CIDRMask(64, 128)}}, nil
	}
	on := newGuard(HostPolicy{InterfaceAddrs: true})
	on.interfaces = ifaces
	off := newGuard(HostPolicy{})
	off.interfaces = ifaces
	for host, want := range map[string]bool{"192.0.2.44:8500": true, "[2001:db8::44]:8500": true, "192.0.2.45": false} {
		if got := on.hostAllowed(host); got != want {
			t.Errorf("with interface addresses: hostAllowed(%q) = %v, want %v", host, got, want)
		}
		if off.hostAllowed(host) {
			t.Errorf("without interface addresses: %q allowed", host)
		}
	}
	broken := newGuard(HostPolicy{InterfaceAddrs: true})
	broken.interfaces = func() ([]net.Addr, error) { return nil, errors.New("no netlink") }
	if broken.hostAllowed("192.0.2.44") {
		t.Error("an address allowed when the interfaces cannot be read")
	}
}

// TestForeignHostIsRefused is DNS rebinding: a page on evil.example whose
// name resolves to 127.0.0.1 reaches the API with its own name as Host.
func TestForeignHostIsRefused(t *testing.T) {
	srv, mesh, api := guardedServer(t)
	for _, tt := range []struct{ method, path string }{
		{"GET", "/v1/agent/self"},
		{"GET", "/v1/kv/k"},
		{"PUT", "/v1/kv/k"},
		{"PUT", "/v1/agent/leave"},
		{"PUT", "/v1/agent/join/10.0.0.1"},
		{"GET", "/v1/operator/keyring"},
		{"GET", "/nonexistent"},
	} {
		for _, host := range []string{"evil.example", "evil.example:8500"} {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader("v"))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = host
			resp, body := doReq(t, req)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `Host "`+host+`" is not allowed`) {
				t.Errorf("%s %s with Host %s = %d %q, want 403 naming the host", tt.method, tt.path, host, resp.StatusCode, body)
			}
		}
	}
	if calls := mesh.recorded(); len(calls) != 0 {
		t.Errorf("refused requests reached the mesh: %v", calls)
	}
	if resp, body := do(t, "GET", srv.URL+"/v1/kv/k", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the refused PUT wrote the key: GET = %d %q", resp.StatusCode, body)
	}

	// Allowed names are served.
	for _, host := range []string{"localhost:8500", "edge.example", "192.0.2.10:8500"} {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/agent/self", nil)
		req.Host = host
		if resp, body := doReq(t, req); resp.StatusCode != http.StatusOK {
			t.Errorf("GET /v1/agent/self with Host %s = %d %q", host, resp.StatusCode, body)
		}
	}
	// The count is reported.
	if got := api.Stats()["refused_host"]; got != "14" {
		t.Errorf("refused_host = %q, want 14", got)
	}
}

// TestRequestWithoutHost sends an HTTP/1.0 request with no Host header,
// which no browser sends: it is served.
func TestRequestWithoutHost(t *testing.T) {
	srv, _, _ := guardedServer(t)
	c, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("GET /v1/status/leader HTTP/1.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP/1.0 without Host = %s, want 200", resp.Status)
	}
}

func TestCrossSiteRequestsAreRefused(t *testing.T) {
	srv, mesh, _ := guardedServer(t)
	self := srv.URL // http://127.0.0.1:port
	for _, tt := range []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		want    int
	}{
		// A page elsewhere posts a form or a no-cors fetch: the browser
		// sends its origin.
		{"text/plain POST to the keyring", "POST", "/v1/operator/keyring",
			map[string]string{"Origin": "https://evil.example", "Content-Type": "text/plain"}, 403},
		{"leave", "PUT", "/v1/agent/leave", map[string]string{"Origin": "http://evil.example"}, 403},
		{"join", "PUT", "/v1/agent/join/10.0.0.1", map[string]string{"Origin": "http://evil.example:8080"}, 403},
		{"kv put", "PUT", "/v1/kv/k", map[string]string{"Origin": "http://evil.example"}, 403},
		{"kv delete", "DELETE", "/v1/kv/k", map[string]string{"Origin": "http://evil.example"}, 403},
		{"sandboxed page", "PUT", "/v1/kv/k", map[string]string{"Origin": "null"}, 403},
		{"origin without host", "PUT", "/v1/kv/k", map[string]string{"Origin": "file://"}, 403},
		{"unparsable origin", "PUT", "/v1/kv/k", map[string]string{"Origin": "http://[::1"}, 403},
		{"a loopback-looking name", "PUT", "/v1/kv/k", map[string]string{"Origin": "http://127.0.0.1.evil.example"}, 403},
		{"Sec-Fetch-Site alone", "PUT", "/v1/kv/k", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"Sec-Fetch-Site with a local origin", "PUT", "/v1/kv/k",
			map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost:3000"}, 403},
		{"reload", "PUT", "/v1/agent/reload", map[string]string{"Origin": "https://evil.example"}, 403},

		// Reads are not refused for their origin: without CORS headers
		// the page cannot read the answer, and the Host rule stops
		// rebinding.
		{"cross-site read", "GET", "/v1/kv/k", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 404},
		{"cross-site HEAD", "HEAD", "/v1/agent/self", map[string]string{"Origin": "https://evil.example"}, 200},
		// Same-origin and local pages may write.
		{"same origin", "PUT", "/v1/kv/k", map[string]string{"Origin": self, "Sec-Fetch-Site": "same-origin"}, 200},
		{"local page on another port", "PUT", "/v1/kv/k", map[string]string{"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site"}, 200},
		{"configured name", "PUT", "/v1/kv/k", map[string]string{"Origin": "https://edge.example"}, 200},
		{"user typed the URL", "PUT", "/v1/kv/k", map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"no browser headers", "PUT", "/v1/kv/k", nil, 200},
		{"join without origin", "PUT", "/v1/agent/join/127.0.0.1:7946", nil, 200},
	} {
		req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader("v"))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tt.headers {
			req.Header.Set(k, v)
		}
		resp, body := doReq(t, req)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %s %s = %d %q, want %d", tt.name, tt.method, tt.path, resp.StatusCode, body, tt.want)
		}
		if tt.want == 403 && tt.method != "HEAD" && !strings.Contains(body, "cross-site request refused") {
			t.Errorf("%s: body %q does not say why", tt.name, body)
		}
	}
	if calls := mesh.recorded(); len(calls) != 1 || calls[0] != "join 127.0.0.1:7946" {
		t.Errorf("mesh calls = %v, want only the join without origin", calls)
	}
}

// TestConsulClientPassesTheGuard: the Consul API client sends its address
// as Host and no Origin, so it may write, join and leave.
func TestConsulClientPassesTheGuard(t *testing.T) {
	srv, mesh, _ := guardedServer(t)
	c := consulClient(t, srv)
	if _, err := c.KV().Put(&consul.KVPair{Key: "k", Value: []byte("v")}, nil); err != nil {
		t.Fatal(err)
	}
	if p, _, err := c.KV().Get("k", nil); err != nil || p == nil || string(p.Value) != "v" {
		t.Fatalf("Get = %+v, %v", p, err)
	}
	if err := c.Agent().Join("127.0.0.1:7946", false); err != nil {
		t.Fatal(err)
	}
	if err := c.Agent().Leave(); err != nil {
		t.Fatal(err)
	}
	if calls := mesh.recorded(); len(calls) != 2 || calls[1] != "leave" {
		t.Fatalf("mesh calls = %v, want join and leave", calls)
	}
	// A client configured with localhost, as CONSUL_HTTP_ADDR often is.
	lc, err := consul.NewClient(&consul.Config{Address: strings.Replace(srv.Listener.Addr().String(), "127.0.0.1", "localhost", 1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.Agent().Self(); err != nil {
		t.Fatalf("Self through localhost: %v", err)
	}
}

// doReq sends req and reads its answer.
func doReq(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := bufio.NewReader(resp.Body).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return resp, b.String()
}
