package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/edgeplane/edgeplane/agent/api"
)

// PrometheusContentType is the Content-Type of the Prometheus text
// exposition format, version 0.0.4.
const PrometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

// Metrics reads the agent's metrics for GET /metrics and
// /v1/agent/metrics (package agent/telemetry implements it). Both need
// agent:read when ACLs are on, as Consul's /v1/agent/metrics does.
type Metrics interface {
	// WritePrometheus writes every series in the Prometheus text format.
	WritePrometheus(w io.Writer)
	// Summary returns the agent's series in Consul's JSON shape.
	Summary() api.MetricsInfo
}

func (a *API) handleMetrics(m Metrics) {
	prometheus := func(w http.ResponseWriter) {
		var b bytes.Buffer
		m.WritePrometheus(&b)
		w.Header().Set("Content-Type", PrometheusContentType)
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		w.Write(b.Bytes())
	}
	a.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) { prometheus(w) })
	a.mux.HandleFunc("GET /v1/agent/metrics", func(w http.ResponseWriter, r *http.Request) {
		switch f := r.URL.Query().Get("format"); f {
		case "":
			writeJSON(w, m.Summary())
		case "prometheus":
			prometheus(w)
		default:
			http.Error(w, fmt.Sprintf("unknown format %q: leave it out for JSON, or ask for format=prometheus", f), http.StatusBadRequest)
		}
	})
}
