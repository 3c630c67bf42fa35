package httpapi

import (
	"io"
	"net/http"
	"testing"

	"github.com/edgeplane/edgeplane/agent/api"
)

// fakeMetrics serves one counter, in both forms.
type fakeMetrics struct{}

const fakeExposition = "# HELP edgeplane_test_total A test counter.\n# TYPE edgeplane_test_total counter\nedgeplane_test_total 7\n"

func (fakeMetrics) WritePrometheus(w io.Writer) { io.WriteString(w, fakeExposition) }

func (fakeMetrics) Summary() api.MetricsInfo {
	return api.MetricsInfo{Timestamp: "2026-01-02 03:04:05 +0000 UTC",
		Gauges:   []api.GaugeValue{{Name: "edgeplane_test", Value: 2, Labels: map[string]string{"state": "alive"}}},
		Counters: []api.SampledValue{{Name: "edgeplane_test_total", Count: 1, Sum: 7, Min: 7, Max: 7, Mean: 7, Labels: map[string]string{}}}}
}

// TestMetricsEndpoints: /metrics and ?format=prometheus answer the text
// format with its content type, /v1/agent/metrics the JSON the Consul
// client decodes, an unknown format 400, and an agent without metrics 404.
func TestMetricsEndpoints(t *testing.T) {
	srv, _ := testServerWith(t, func(c *Config) { c.Metrics = fakeMetrics{} })
	for _, path := range []string{"/metrics", "/v1/agent/metrics?format=prometheus"} {
		code, body, h := sendFull(t, "GET", srv.URL+path, "", "", "")
		if code != http.StatusOK || body != fakeExposition || h.Get("Content-Type") != PrometheusContentType {
			t.Errorf("GET %s = %d %q (Content-Type %q), want 200, the exposition, %q", path, code, body, h.Get("Content-Type"), PrometheusContentType)
		}
	}
	if code, body := send(t, "GET", srv.URL+"/v1/agent/metrics?format=xml", "", "", ""); code != http.StatusBadRequest {
		t.Errorf("format=xml = %d %q, want 400", code, body)
	}
	info, err := consulClient(t, srv).Agent().Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if info.Timestamp == "" || len(info.Gauges) != 1 || info.Gauges[0].Labels["state"] != "alive" ||
		len(info.Counters) != 1 || info.Counters[0].Sum != 7 || info.Counters[0].Name != "edgeplane_test_total" {
		t.Errorf("Consul client decoded %+v", info)
	}

	bare, _ := testServer(t)
	for _, path := range []string{"/metrics", "/v1/agent/metrics"} {
		if code, _ := send(t, "GET", bare.URL+path, "", "", ""); code != http.StatusNotFound {
			t.Errorf("GET %s without metrics = %d, want 404", path, code)
		}
	}
}

// TestMetricsNeedAgentRead: with ACLs on, both metrics paths answer a
// token with agent:read, and refuse 403 the anonymous token and one that
// reads keys only, as Consul's /v1/agent/metrics does.
func TestMetricsNeedAgentRead(t *testing.T) {
	srv, _, _ := aclServer(t, false)
	for _, path := range []string{"/metrics", "/v1/agent/metrics", "/v1/agent/metrics?format=prometheus"} {
		for _, tc := range []struct {
			token string
			want  int
		}{{"", http.StatusForbidden}, {readToken, http.StatusForbidden}, {appToken, http.StatusOK}, {opsToken, http.StatusOK}} {
			if code, body := send(t, "GET", srv.URL+path, "X-Consul-Token", tc.token, ""); code != tc.want {
				t.Errorf("GET %s with token %q = %d %q, want %d", path, tc.token, code, body, tc.want)
			}
		}
	}
	if _, err := consulClientWith(t, srv, readToken).Agent().Metrics(); err == nil {
		t.Error("the Consul client read metrics with a token without agent:read")
	}
}
