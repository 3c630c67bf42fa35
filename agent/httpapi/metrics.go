package httpapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

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

// MetricsRelay fetches a member's metrics in the Prometheus text format
// for GET /v1/edgeplane/metrics/<node> and, on metrics_addr,
// /metrics?node=<node> (package agent/relay does the fetching). It fails
// with an error matching ErrUnknownNode for a node that is not a live
// member (404) and ErrRelayBusy when too many relays run (503); any other
// failure is a 502.
type MetricsRelay interface {
	Fetch(ctx context.Context, node string) ([]byte, error)
}

// ErrRelayBusy is returned by a MetricsRelay that runs as many relays as
// it may; the API answers 503 with Retry-After.
var ErrRelayBusy = errors.New("too many relayed scrapes at once")

// relayRetryAfter is the Retry-After of a relay refused as busy.
const relayRetryAfter = "1"

func writePrometheus(w http.ResponseWriter, text []byte) {
	w.Header().Set("Content-Type", PrometheusContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(text)))
	w.Write(text)
}

func localPrometheus(w http.ResponseWriter, m Metrics) {
	var b bytes.Buffer
	m.WritePrometheus(&b)
	writePrometheus(w, b.Bytes())
}

// relayMetrics answers with node's metrics fetched through rl, or the
// status of the failure. Failures are counted by the relay, and logged
// here at debug level only: a node down fails every scrape.
func relayMetrics(w http.ResponseWriter, r *http.Request, rl MetricsRelay, node string, log *slog.Logger) {
	text, err := rl.Fetch(r.Context(), node)
	switch {
	case err == nil:
		writePrometheus(w, text)
	case errors.Is(err, ErrUnknownNode):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, ErrRelayBusy):
		w.Header().Set("Retry-After", relayRetryAfter)
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	default:
		log.Debug("relaying a node's metrics failed", "node", node, "err", err)
		http.Error(w, err.Error(), http.StatusBadGateway)
	}
}

func (a *API) handleMetrics(m Metrics) {
	a.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) { localPrometheus(w, m) })
	a.mux.HandleFunc("GET /v1/agent/metrics", func(w http.ResponseWriter, r *http.Request) {
		switch f := r.URL.Query().Get("format"); f {
		case "":
			writeJSON(w, m.Summary())
		case "prometheus":
			localPrometheus(w, m)
		default:
			http.Error(w, fmt.Sprintf("unknown format %q: leave it out for JSON, or ask for format=prometheus", f), http.StatusBadRequest)
		}
	})
}

// handleMetricsRelay adds GET /v1/edgeplane/metrics/<node>, which needs
// agent read as /metrics does.
func (a *API) handleMetricsRelay(rl MetricsRelay) {
	a.mux.HandleFunc("GET /v1/edgeplane/metrics/{node}", func(w http.ResponseWriter, r *http.Request) {
		relayMetrics(w, r, rl, r.PathValue("node"), a.log)
	})
}

// ScrapeConfig is what a ScrapeHandler serves.
type ScrapeConfig struct {
	// Metrics is this node's metrics (required).
	Metrics Metrics
	// Relay fetches other members' metrics for /metrics?node=NAME; nil
	// answers such requests 404.
	Relay MetricsRelay
	// Token, when set, is the bearer token every request must present
	// ("Authorization: Bearer TOKEN"); others are answered 401.
	Token string
	// Log receives failed relays. Default slog.Default().
	Log *slog.Logger
}

// ScrapeHandler serves metrics_addr: GET (or HEAD) /metrics, this node's
// metrics, or with ?node=NAME that member's, relayed; every other path is
// 404 and every other method 405. With a token, every request must
// present it first (compared in constant time), else 401. It is safe for
// concurrent use.
type ScrapeHandler struct {
	cfg     ScrapeConfig
	token   []byte
	refused atomic.Uint64
}

// NewScrapeHandler returns the handler of metrics_addr.
func NewScrapeHandler(cfg ScrapeConfig) *ScrapeHandler {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &ScrapeHandler{cfg: cfg, token: []byte(cfg.Token)}
}

// Refused returns how many requests were refused for a missing or wrong
// token.
func (h *ScrapeHandler) Refused() uint64 { return h.refused.Load() }

func (h *ScrapeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(h.token) > 0 && !h.authorized(r) {
		h.refused.Add(1)
		w.Header().Set("WWW-Authenticate", `Bearer realm="edgeplane metrics"`)
		http.Error(w, "Unauthorized: present the metrics bearer token (metrics_bearer_token_file)", http.StatusUnauthorized)
		return
	}
	if r.URL.Path != "/metrics" {
		http.Error(w, "Not Found: this listener serves /metrics only", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if !r.URL.Query().Has("node") {
		localPrometheus(w, h.cfg.Metrics)
		return
	}
	if h.cfg.Relay == nil {
		http.Error(w, "Not Found: this agent relays no metrics", http.StatusNotFound)
		return
	}
	relayMetrics(w, r, h.cfg.Relay, r.URL.Query().Get("node"), h.cfg.Log)
}

// authorized reports whether r presents the token, compared in constant
// time.
func (h *ScrapeHandler) authorized(r *http.Request) bool {
	scheme, value, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(value)), h.token) == 1
}
