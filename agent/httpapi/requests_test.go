package httpapi

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// serveRequest serves one request in process and returns its status.
func serveRequest(a *API, method, path, body string) int {
	req := httptest.NewRequest(method, "http://127.0.0.1:8500"+path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	return rec.Code
}

// requestsOn returns the counts of route, by status class.
func requestsOn(a *API, route string) [5]uint64 {
	for _, rr := range a.Requests() {
		if rr.Route == route {
			return rr.Classes
		}
	}
	return [5]uint64{}
}

// TestRequestsByRoute: requests are counted under their route's template
// and their status's class, never under their path.
func TestRequestsByRoute(t *testing.T) {
	_, _, api := testAPI(t, nil)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"PUT", "/v1/kv/foo", 200},
		{"GET", "/v1/kv/foo", 200},
		{"GET", "/v1/kv/missing", 404},
		{"GET", "/v1/agent/self", 200},
		{"GET", "/v1/status/leader", 200},
		{"GET", "/no/such/path", 404},
	} {
		if got := serveRequest(api, tc.method, tc.path, "v"); got != tc.status {
			t.Fatalf("%s %s: %d, want %d", tc.method, tc.path, got, tc.status)
		}
	}
	for route, want := range map[string][5]uint64{
		RouteKV:             {0, 2, 0, 1, 0},
		"/v1/agent/self":    {0, 1, 0, 0, 0},
		"/v1/status/leader": {0, 1, 0, 0, 0},
		RouteUnmatched:      {0, 0, 0, 1, 0},
	} {
		if got := requestsOn(api, route); got != want {
			t.Errorf("%s: %v, want %v", route, got, want)
		}
	}
	for _, rr := range api.Requests() {
		if strings.Contains(rr.Route, "foo") || strings.Contains(rr.Route, "missing") || strings.Contains(rr.Route, "/no/") {
			t.Errorf("route %q names a path", rr.Route)
		}
	}
}

// TestRequestsRandomPathsAddNoRoute: 1,000 requests to random paths and
// methods, some under routes with wildcards, add no route but their
// templates and RouteUnmatched.
func TestRequestsRandomPathsAddNoRoute(t *testing.T) {
	_, _, api := testAPI(t, nil)
	serveRequest(api, "GET", "/v1/agent/self", "")
	rng := rand.New(rand.NewPCG(1, 2))
	methods := []string{"GET", "PUT", "DELETE", "PATCH", "FROB"}
	for i := range 1000 {
		word := fmt.Sprintf("%x", rng.Uint64())
		path := []string{"/" + word, "/v1/" + word + "/x", "/v1/agent/self/" + word, "/v1/agent/service/" + word,
			"/v1/kv/" + word, "/%2e%2e/" + word}[i%6]
		serveRequest(api, methods[rng.IntN(len(methods))], path, "")
	}
	var total uint64
	allowed := map[string]bool{RouteKV: true, RouteUnmatched: true, "/v1/agent/self": true, "/v1/agent/service/{id}": true}
	for _, rr := range api.Requests() {
		if !allowed[rr.Route] {
			t.Errorf("route %q", rr.Route)
		}
		for _, n := range rr.Classes {
			total += n
		}
	}
	if total != 1001 {
		t.Errorf("%d requests counted, want 1001", total)
	}
	if n := len(api.Requests()); n > len(allowed) {
		t.Errorf("%d routes", n)
	}
}

func TestStatusWriter(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter)
		want  int
	}{
		{"nothing", func(http.ResponseWriter) {}, 200},
		{"body", func(w http.ResponseWriter) { w.Write([]byte("x")) }, 200},
		{"status", func(w http.ResponseWriter) { w.WriteHeader(503); w.WriteHeader(200) }, 503},
		{"informational first", func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(404) }, 404},
		{"flushed", func(w http.ResponseWriter) { http.NewResponseController(w).Flush(); w.WriteHeader(500) }, 200},
	} {
		sw := &statusWriter{ResponseWriter: httptest.NewRecorder()}
		tc.write(sw)
		if got := sw.code(); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
