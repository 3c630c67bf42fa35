package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"testing"
)

func withDebug(c *Config) { c.Debug = true }

// isGzip reports whether b starts as a gzip stream does: the pprof format.
func isGzip(b string) bool { return len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b }

// TestProfilesOffByDefault: without Debug every profile path is a 404,
// as any unknown path.
func TestProfilesOffByDefault(t *testing.T) {
	srv, _ := testServer(t)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1", "/debug/pprof/profile?seconds=1", "/debug/pprof/cmdline"} {
		if code, body := send(t, "GET", srv.URL+path, "", "", ""); code != http.StatusNotFound {
			t.Errorf("GET %s without enable_debug = %d %q, want 404", path, code, body)
		}
	}
}

// TestProfilesServed: with Debug the profiles answer in the pprof format,
// or as text with ?debug; the command line is not served; bad parameters
// are a 400.
func TestProfilesServed(t *testing.T) {
	srv, _ := testServerWith(t, withDebug)
	for _, path := range []string{"/debug/pprof/heap", "/debug/pprof/heap?gc=1", "/debug/pprof/goroutine", "/debug/pprof/allocs", "/debug/pprof/profile?seconds=0.2"} {
		if code, body := send(t, "GET", srv.URL+path, "", "", ""); code != http.StatusOK || !isGzip(body) {
			t.Errorf("GET %s = %d, %d bytes, want 200 and a gzipped profile", path, code, len(body))
		}
	}
	if code, body := send(t, "GET", srv.URL+"/debug/pprof/goroutine?debug=1", "", "", ""); code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("goroutine?debug=1 = %d %.100q", code, body)
	}
	if code, body := send(t, "GET", srv.URL+"/debug/pprof/", "", "", ""); code != http.StatusOK || !strings.Contains(body, "heap (") {
		t.Errorf("index = %d %q", code, body)
	}
	for path, want := range map[string]int{
		"/debug/pprof/cmdline":                 http.StatusNotFound, // may hold secrets given as flags
		"/debug/pprof/nosuch":                  http.StatusNotFound,
		"/debug/pprof/profile?seconds=abc":     http.StatusBadRequest,
		"/debug/pprof/profile?seconds=0":       http.StatusBadRequest,
		"/debug/pprof/profile?seconds=1000000": http.StatusBadRequest,
		"/debug/pprof/heap?debug=9":            http.StatusBadRequest,
	} {
		if code, body := send(t, "GET", srv.URL+path, "", "", ""); code != want {
			t.Errorf("GET %s = %d %q, want %d", path, code, body, want)
		}
	}
	if code, _ := send(t, "POST", srv.URL+"/debug/pprof/heap", "", "", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("POST heap = %d, want 405", code)
	}
}

// TestCPUProfileBusy: while a CPU profile runs, another is a 409.
func TestCPUProfileBusy(t *testing.T) {
	srv, _ := testServerWith(t, withDebug)
	if err := pprof.StartCPUProfile(io.Discard); err != nil {
		t.Fatal(err)
	}
	code, body := send(t, "GET", srv.URL+"/debug/pprof/profile?seconds=1", "", "", "")
	pprof.StopCPUProfile()
	if code != http.StatusConflict {
		t.Fatalf("profile while another runs = %d %q, want 409", code, body)
	}
}

// TestProfilesRefuseRemoteClients: a client off loopback is refused 403,
// even with a Host the API answers, and even with ACLs off.
func TestProfilesRefuseRemoteClients(t *testing.T) {
	_, _, a := testAPI(t, withDebug)
	for _, remote := range []string{"192.0.2.7:40000", "[2001:db8::1]:40000", "10.0.0.1:1"} {
		for _, path := range []string{"/debug/pprof/heap", "/debug/pprof/profile?seconds=1", "/debug/pprof/"} {
			req := httptest.NewRequest("GET", path, nil)
			req.Host = "127.0.0.1:8500"
			req.RemoteAddr = remote
			w := httptest.NewRecorder()
			a.ServeHTTP(w, req)
			if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "loopback clients only") {
				t.Errorf("GET %s from %s = %d %q, want 403", path, remote, w.Code, w.Body.String())
			}
		}
	}
	// A loopback client, IPv4 or IPv6, is served.
	for _, remote := range []string{"127.0.0.1:40000", "[::1]:40000", "[::ffff:127.0.0.1]:40000"} {
		req := httptest.NewRequest("GET", "/debug/pprof/heap", nil)
		req.Host = "127.0.0.1:8500"
		req.RemoteAddr = remote
		w := httptest.NewRecorder()
		a.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Errorf("GET heap from %s = %d %q, want 200", remote, w.Code, w.Body.String())
		}
	}
}

// TestProfilesNeedAgentWrite: with ACLs on, a local client without a
// token with agent write is refused 403, whatever it presents; the
// operator's token is served.
func TestProfilesNeedAgentWrite(t *testing.T) {
	srv, _, _ := aclServer(t, true, withDebug) // even a default policy of allow grants no agent write
	for _, path := range []string{"/debug/pprof/heap", "/debug/pprof/goroutine?debug=2", "/debug/pprof/profile?seconds=1", "/debug/pprof/"} {
		for _, tok := range []struct{ header, value string }{
			{"", ""}, {"X-Consul-Token", readToken}, {"X-Consul-Token", appToken}, {"X-Consul-Token", "not-a-token-anyone-holds"},
			{"Authorization", "Bearer " + appToken},
		} {
			if code, body := send(t, "GET", srv.URL+path, tok.header, tok.value, ""); code != http.StatusForbidden {
				t.Errorf("GET %s with %s %q = %d %.80q, want 403", path, tok.header, tok.value, code, body)
			}
		}
	}
	if code, body := send(t, "GET", srv.URL+"/debug/pprof/heap", "X-Consul-Token", opsToken, ""); code != http.StatusOK || !isGzip(body) {
		t.Errorf("heap with the operator's token = %d, %d bytes", code, len(body))
	}
}
