package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/relay"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// Metrics for a central Prometheus. The HTTP API listens on loopback,
// which a central server cannot scrape; two ways around it:
//
//   - metrics_addr, a second listener that serves only /metrics (and
//     /metrics?node=NAME), optionally over TLS with the node's fleet
//     certificate and behind a bearer token. The agent's own service
//     "edgeplane" is then registered on its port, so that
//     consul_sd_configs finds every agent's metrics listener;
//   - the relay (package relay): every agent serves its metrics to the
//     other members over RPC, so that one reachable agent of a site
//     answers for the nodes behind it, on /metrics?node=NAME and on the
//     local API's /v1/edgeplane/metrics/<node>.

// newMetricsRelay builds the relay over the agent's RPC endpoint and
// registers the metrics method on its server.
func newMetricsRelay(self string, rpc *rpcEndpoint, local relay.MetricsWriter) (*relay.Relay, error) {
	relay.Serve(rpc.srv, local)
	rl, err := relay.New(relayConfig(self, rpc, local))
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return rl, nil
}

// relayConfig is the relay's configuration over the agent's RPC client
// and membership, with the package's limits.
func relayConfig(self string, rpc *rpcEndpoint, local relay.MetricsWriter) relay.Config {
	return relay.Config{
		Self:   self,
		Local:  local,
		Client: rpc.client,
		Lookup: func(node string) (string, bool) {
			mem, ok := rpc.members.live(node)
			addr := mem.Tags[gossip.MetaRPC]
			return addr, ok && addr != ""
		},
	}
}

// relayAPI gives the relay's errors the API's meaning.
type relayAPI struct{ r *relay.Relay }

func (a relayAPI) Fetch(ctx context.Context, node string) ([]byte, error) {
	text, err := a.r.Fetch(ctx, node)
	switch {
	case errors.Is(err, relay.ErrUnknownNode):
		return nil, fmt.Errorf("%w: %w", httpapi.ErrUnknownNode, err)
	case errors.Is(err, relay.ErrBusy):
		return nil, fmt.Errorf("%w: %w", httpapi.ErrRelayBusy, err)
	}
	return text, err
}

// listenMetrics binds metrics_addr, when it is set: nil otherwise. With
// metrics_tls, connections are served over TLS with the node's fleet
// certificate; they are counted against the caps of the HTTP API's
// settings (http_max_conns_per_client, http_max_conns) before their
// handshake.
func listenMetrics(cfg config.Config, log *slog.Logger) (net.Listener, error) {
	if cfg.MetricsAddr == "" {
		return nil, nil
	}
	var tlsCfg *tls.Config
	if cfg.MetricsTLS {
		cert, err := tlsmesh.LoadCertificate(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("agent: metrics_tls: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("agent: metrics_addr: %w", err)
	}
	if !cfg.MetricsTLS && !config.LoopbackAddr(cfg.MetricsAddr) {
		log.Warn("metrics_addr is served off loopback without metrics_tls: the bearer token and the metrics travel in clear text",
			"metrics_addr", cfg.MetricsAddr)
	}
	ln = httpapi.NewConnLimiter(cfg.HTTPMaxConnsPerClient, cfg.HTTPMaxConns, log).Listener(ln)
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	return ln, nil
}

// scrapeServer serves metrics_addr (httpapi.ScrapeHandler) from Start
// until Close.
type scrapeServer struct {
	*httpServer
	handler *httpapi.ScrapeHandler
}

// newScrapeServer serves cfg on ln, which it takes over.
func newScrapeServer(ln net.Listener, cfg httpapi.ScrapeConfig, fail func(error), log *slog.Logger) *scrapeServer {
	h := httpapi.NewScrapeHandler(cfg)
	return &scrapeServer{handler: h, httpServer: &httpServer{name: "metrics_addr", ln: ln, fail: fail, log: log, srv: newHTTP(h, log)}}
}

// agentServicePort is the port of the agent's own service: metrics_addr's
// when it is set, else the HTTP API's.
func agentServicePort(httpAPI, metrics net.Listener) int {
	ln := httpAPI
	if metrics != nil {
		ln = metrics
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// MetricsAddr returns the address metrics_addr listens on, or nil when it
// is not set.
func (a *Agent) MetricsAddr() net.Addr {
	if a.scrape == nil {
		return nil
	}
	return a.scrape.ln.Addr()
}
