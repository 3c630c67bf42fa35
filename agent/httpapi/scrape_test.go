package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeRelay answers for node-b, fails as unknown for other names but
// "busy" and "down", which fail as busy and as a failed call.
type fakeRelay struct{}

const relayedExposition = "# TYPE edgeplane_relayed_total counter\nedgeplane_relayed_total 3\n"

func (fakeRelay) Fetch(_ context.Context, node string) ([]byte, error) {
	switch node {
	case "node-b":
		return []byte(relayedExposition), nil
	case "busy":
		return nil, fmt.Errorf("%w: 4 running", ErrRelayBusy)
	case "down":
		return nil, fmt.Errorf("metrics of down: connection refused")
	}
	return nil, fmt.Errorf("%w: no live member named %q", ErrUnknownNode, node)
}

const scrapeToken = "0123456789abcdef-metrics"

func scrapeServer(t *testing.T, token string) (*httptest.Server, *ScrapeHandler) {
	t.Helper()
	h := NewScrapeHandler(ScrapeConfig{Metrics: fakeMetrics{}, Relay: fakeRelay{}, Token: token})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, h
}

// TestScrapeHandler: metrics_addr serves /metrics, this node's or, with
// ?node=, a member's through the relay (404 unknown, 503 busy, 502 failed);
// every other path is 404 and every other method 405.
func TestScrapeHandler(t *testing.T) {
	srv, _ := scrapeServer(t, "")
	for _, c := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/metrics", 200, fakeExposition},
		{"GET", "/metrics?node=node-b", 200, relayedExposition},
		{"GET", "/metrics?node=node-b&path=/v1/kv/secret", 200, relayedExposition},
		{"GET", "/metrics?node=nope", 404, "no live member"},
		{"GET", "/metrics?node=", 404, "no live member"},
		{"GET", "/metrics?node=busy", 503, "too many relayed scrapes"},
		{"GET", "/metrics?node=down", 502, "connection refused"},
		{"HEAD", "/metrics", 200, ""},
		{"POST", "/metrics", 405, "Method Not Allowed"},
		{"PUT", "/metrics", 405, "Method Not Allowed"},
		{"GET", "/", 404, "serves /metrics only"},
		{"GET", "/metrics/", 404, "serves /metrics only"},
		{"GET", "/v1/agent/self", 404, "serves /metrics only"},
		{"GET", "/v1/agent/metrics", 404, "serves /metrics only"},
		{"GET", "/v1/kv/secret", 404, "serves /metrics only"},
		{"GET", "/v1/edgeplane/metrics/node-b", 404, "serves /metrics only"},
		{"PUT", "/v1/agent/leave", 404, "serves /metrics only"},
		{"GET", "/metrics/../v1/agent/self", 404, "serves /metrics only"},
		{"GET", "/%6detrics", 200, fakeExposition}, // the same path, escaped
	} {
		code, body, h := sendFull(t, c.method, srv.URL+c.path, "", "", "")
		if code != c.code || !strings.Contains(body, c.body) {
			t.Errorf("%s %s = %d %q, want %d with %q", c.method, c.path, code, body, c.code, c.body)
		}
		if code == 200 && h.Get("Content-Type") != PrometheusContentType {
			t.Errorf("%s %s: Content-Type %q", c.method, c.path, h.Get("Content-Type"))
		}
		if code == 503 && h.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", c.method, c.path)
		}
	}
	// Without a relay, ?node= is 404 and /metrics still answers.
	h := NewScrapeHandler(ScrapeConfig{Metrics: fakeMetrics{}})
	norelay := httptest.NewServer(h)
	defer norelay.Close()
	if code, body := send(t, "GET", norelay.URL+"/metrics?node=node-b", "", "", ""); code != 404 {
		t.Errorf("?node= without a relay = %d %q, want 404", code, body)
	}
}

// TestScrapeHandlerToken: with a token, every request, for any path,
// must present it as a bearer token; a missing or wrong one is 401 and
// counted, before anything else is looked at.
func TestScrapeHandlerToken(t *testing.T) {
	srv, h := scrapeServer(t, scrapeToken)
	refused := 0
	for _, c := range []struct {
		name, header, value string
	}{
		{"none", "", ""},
		{"empty bearer", "Authorization", "Bearer "},
		{"wrong", "Authorization", "Bearer " + scrapeToken + "x"},
		{"prefix", "Authorization", "Bearer " + scrapeToken[:len(scrapeToken)-1]},
		{"basic", "Authorization", "Basic " + scrapeToken},
		{"bare", "Authorization", scrapeToken},
		{"consul header", "X-Consul-Token", scrapeToken},
	} {
		for _, path := range []string{"/metrics", "/metrics?node=node-b", "/v1/agent/self", "/metrics?token=" + scrapeToken} {
			code, body, hdr := sendFull(t, "GET", srv.URL+path, c.header, c.value, "")
			refused++
			if code != http.StatusUnauthorized || strings.Contains(body, "edgeplane_") || hdr.Get("WWW-Authenticate") == "" {
				t.Errorf("%s with %s: %d %q, want 401 with WWW-Authenticate", path, c.name, code, body)
			}
		}
	}
	if got := h.Refused(); got != uint64(refused) {
		t.Errorf("Refused() = %d, want %d", got, refused)
	}
	for _, value := range []string{"Bearer " + scrapeToken, "bearer " + scrapeToken, "Bearer  " + scrapeToken + " "} {
		if code, body := send(t, "GET", srv.URL+"/metrics", "Authorization", value, ""); code != 200 || body != fakeExposition {
			t.Errorf("/metrics with %q: %d %q", value, code, body)
		}
	}
	if code, _ := send(t, "GET", srv.URL+"/v1/agent/self", "Authorization", "Bearer "+scrapeToken, ""); code != 404 {
		t.Errorf("/v1/agent/self with the token: %d, want 404", code)
	}
}

// TestMetricsRelayEndpoint: the local API's /v1/edgeplane/metrics/<node>
// relays (404 for an unknown node, 503 busy, 502 failed), and cannot be
// turned to other paths.
func TestMetricsRelayEndpoint(t *testing.T) {
	srv, _ := testServerWith(t, func(c *Config) { c.Metrics, c.MetricsRelay = fakeMetrics{}, fakeRelay{} })
	for _, c := range []struct {
		path string
		code int
		body string
	}{
		{"/v1/edgeplane/metrics/node-b", 200, relayedExposition},
		{"/v1/edgeplane/metrics/nope", 404, "no live member"},
		{"/v1/edgeplane/metrics/busy", 503, "too many"},
		{"/v1/edgeplane/metrics/down", 502, "connection refused"},
		{"/v1/edgeplane/metrics/", 404, ""},
		{"/v1/edgeplane/metrics/node-b/x", 404, ""},
		{"/v1/edgeplane/metrics/%2e%2e%2fagent%2fself", 404, "no live member"},
	} {
		code, body, _ := sendFull(t, "GET", srv.URL+c.path, "", "", "")
		if code != c.code || !strings.Contains(body, c.body) {
			t.Errorf("GET %s = %d %q, want %d with %q", c.path, code, body, c.code, c.body)
		}
	}
	if code, _ := send(t, "PUT", srv.URL+"/v1/edgeplane/metrics/node-b", "", "", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("PUT = %d, want 405", code)
	}
}

// FuzzScrapeHandler: whatever the method, path, query and Authorization
// header, metrics_addr answers metrics only to the token, and only on
// /metrics.
func FuzzScrapeHandler(f *testing.F) {
	f.Add("GET", "/metrics", "", "Bearer "+scrapeToken)
	f.Add("GET", "/metrics", "node=node-b", "Bearer "+scrapeToken)
	f.Add("GET", "/v1/agent/self", "", "Bearer "+scrapeToken)
	f.Add("GET", "/metrics", "", "Bearer "+scrapeToken+"\x00")
	f.Add("HEAD", "/metrics/..", "node=../x", "bearer  "+scrapeToken)
	f.Add("GET", "/metrics", "", "Basic x")
	h := NewScrapeHandler(ScrapeConfig{Metrics: fakeMetrics{}, Relay: fakeRelay{}, Token: scrapeToken})
	f.Fuzz(func(t *testing.T, method, path, query, auth string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Method, req.URL.Path, req.URL.RawQuery = method, path, query
		req.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		body := w.Body.String()
		leaked := strings.Contains(body, "edgeplane_")
		scheme, value, _ := strings.Cut(auth, " ")
		holds := strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(value) == scrapeToken
		switch {
		case !holds && (w.Code != http.StatusUnauthorized || leaked):
			t.Fatalf("%s %s ?%s with %q: %d %q without the token", method, path, query, auth, w.Code, body)
		case w.Code == http.StatusOK && path != "/metrics":
			t.Fatalf("%s %s answered 200", method, path)
		case leaked && w.Code != http.StatusOK:
			t.Fatalf("%s %s: metrics with %d", method, path, w.Code)
		}
	})
}
