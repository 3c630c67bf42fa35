package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/logstream"
	"github.com/edgeplane/edgeplane/agent/relay"
	"github.com/edgeplane/edgeplane/agent/render"
	"github.com/edgeplane/edgeplane/agent/replica"
	"github.com/edgeplane/edgeplane/agent/telemetry"
	"github.com/edgeplane/edgeplane/agent/version"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
)

// httpServer serves the local HTTP API on its listener from Start until
// Close, or (api nil) another handler of the agent's.
type httpServer struct {
	name string // for errors and logs
	api  *httpapi.API
	srv  *http.Server
	ln   net.Listener
	fail func(error) // stops the agent when serving fails
	log  *slog.Logger
	wg   sync.WaitGroup
}

// newHTTPServer serves the API cfg describes on ln, which it takes over,
// through cfg.Conns' connection caps when it is set.
func newHTTPServer(ln net.Listener, cfg httpapi.Config, fail func(error), log *slog.Logger) *httpServer {
	api := httpapi.New(cfg)
	if cfg.Conns != nil {
		ln = cfg.Conns.Listener(ln)
	}
	return &httpServer{name: "http api", api: api, ln: ln, fail: fail, log: log, srv: newHTTP(api, log)}
}

// newHTTP returns the http.Server settings of the agent's listeners.
func newHTTP(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       httpapi.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Start serves until Close; a failure to serve stops the agent.
func (h *httpServer) Start(context.Context) error {
	h.wg.Go(func() {
		// Shutdown and Close end Serve with ErrServerClosed: a clean stop.
		if err := h.srv.Serve(h.ln); !errors.Is(err, http.ErrServerClosed) {
			h.fail(fmt.Errorf("agent: %s: %w", h.name, err))
		}
	})
	return nil
}

// Close ends blocking queries, then stops accepting requests and waits up
// to ShutdownTimeout for those in flight before it closes their
// connections.
func (h *httpServer) Close() error {
	if h.api != nil {
		h.api.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		h.log.Warn(h.name+" did not drain in time", "err", err)
		h.srv.Close()
	}
	h.wg.Wait()
	h.ln.Close() // Serve closes it; a server never started has not
	return nil
}

// describe answers /v1/agent/self from the components.
type describe struct {
	cfg config.Config
	// inEffect returns the configuration in effect, reloads applied,
	// shown redacted.
	inEffect func() config.Config
	started  time.Time
	data     *dataDir
	mesh     *membership
	rpc      *rpcEndpoint
	replica  *replica.Service
	http     func() map[string]string // the API's limits and refusals
	// insecureMesh: unauthenticated off loopback, as insecure_mesh allows.
	insecureMesh bool
}

func (d describe) self() httpapi.Self {
	local := d.mesh.LocalMember()
	st := d.data.store
	return httpapi.Self{
		NodeName:   d.cfg.NodeName,
		NodeID:     st.NodeID(),
		Datacenter: d.cfg.Datacenter,
		Site:       d.cfg.Site,
		Version:    version.Version,
		Revision:   version.Commit,
		BuildDate:  version.BuildDate,
		Addr:       local.Addr.String(),
		GossipPort: int(local.Port),
		RPCAddr:    local.Tags[gossip.MetaRPC],
		Tags:       local.Tags,
		Config:     config.Redacted(d.inEffect()),
		Stats: map[string]map[string]string{
			"agent": {
				"data_dir": d.data.dir,
				"dev":      strconv.FormatBool(d.cfg.Dev),
				"uptime":   time.Since(d.started).Round(time.Second).String(),
			},
			"rpc": {
				"addr":  local.Tags[gossip.MetaRPC],
				"trust": d.rpc.mode.String(),
				// Unauthenticated off loopback: insecure_mesh in effect.
				"insecure_mesh": strconv.FormatBool(d.insecureMesh),
			},
			"mesh":        d.mesh.stats(),
			"http":        d.http(),
			"replication": d.replica.LocalStats(),
			"store": {
				"index": strconv.FormatUint(st.Index(), 10),
				"clock": st.Clock().Peek().String(),
				// Records whose keys are not valid UTF-8, kept apart.
				"quarantined": strconv.Itoa(len(d.replica.Quarantine())),
			},
		},
	}
}

// newMetrics builds the agent's metrics over the components built so far
// and the HTTP API, which is built next and read only at scrape time.
func (a *Agent) newMetrics(services *catalog.Catalog) (*telemetry.Metrics, error) {
	m, err := telemetry.New(telemetry.Config{
		Mesh:         a.mesh.Mesh,
		Transport:    a.mesh.net,
		Replication:  a.replica,
		Store:        a.store,
		StoreFile:    filepath.Join(a.data.dir, store.FileName),
		DataDir:      a.data.dir,
		RPC:          a.rpc,
		HTTP:         func() httpapi.Limits { return a.http.api.Limits() },
		HTTPRequests: func() []httpapi.RouteRequests { return a.http.api.Requests() },
		Catalog:      services,
		Relay:        func() relay.Stats { return a.relay.Stats() },
		Renders: func() []render.Failure {
			if a.render == nil { // metrics are built first
				return nil
			}
			return a.render.Failures()
		},
		Tracing:   a.tracer.Stats,
		PeerLimit: a.cfg.MetricsPeerLimit,
		Version:   version.Version,
		Commit:    version.Commit,
		ScrapeRefused: func() uint64 {
			if a.scrape == nil { // no metrics_addr
				return 0
			}
			return a.scrape.handler.Refused()
		},
	})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return m, nil
}

// reloadAPI runs PUT /v1/agent/reload.
type reloadAPI struct{ s *supervisor }

func (r reloadAPI) Reload() (httpapi.ReloadReport, error) {
	res, err := r.s.Reload()
	return httpapi.ReloadReport{Applied: res.Applied, RestartRequired: res.RestartRequired, Rejected: res.Rejected}, err
}

// httpHosts is the Host policy of the API: this node's addresses (the
// listener's, bind_addr, advertise_addr and the address announced to
// peers, advertised) and http_allowed_hosts. A listener or bind address
// that is unspecified (0.0.0.0, ::) stands for every interface's address.
func httpHosts(cfg config.Config, listen net.Addr, advertised net.IP) httpapi.HostPolicy {
	p := httpapi.HostPolicy{Hosts: slices.Clone(cfg.HTTPAllowedHosts)}
	addrs := []string{cfg.BindAddr, cfg.AdvertiseAddr}
	if tcp, ok := listen.(*net.TCPAddr); ok {
		addrs = append(addrs, tcp.IP.String())
	}
	if advertised != nil {
		addrs = append(addrs, advertised.String())
	}
	for _, s := range addrs {
		ip, err := netip.ParseAddr(s)
		switch {
		case err != nil:
		case ip.IsUnspecified():
			p.InterfaceAddrs = true
		default:
			p.Hosts = append(p.Hosts, ip.String())
		}
	}
	return p
}

// monitorOf returns what serves /v1/agent/monitor: the log's handler when
// it is a *logstream.Hub, or wraps one (the binary's wraps one in
// transport.TraceLog), else nil, and no endpoint.
func monitorOf(log *slog.Logger) httpapi.Monitor {
	h := log.Handler()
	for range 8 { // wrappers deep; a cycle ends here
		if hub, ok := h.(*logstream.Hub); ok {
			return hub
		}
		u, ok := h.(interface{ Unwrap() slog.Handler })
		if !ok {
			return nil
		}
		h = u.Unwrap()
	}
	return nil
}
