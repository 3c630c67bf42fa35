package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/schema"
	"github.com/edgeplane/edgeplane/transport"
)

// Self describes the agent for /v1/agent/self and /v1/status/*.
type Self struct {
	NodeName   string
	NodeID     string
	Datacenter string
	Site       string
	Version    string
	Revision   string
	BuildDate  string
	Addr       string // advertised address
	GossipPort int
	RPCAddr    string // host:port of the RPC listener announced to peers
	Tags       map[string]string
	// Config is the configuration in effect by option key, its secrets
	// hidden (config.Redacted), shown as DebugConfig; nil shows none.
	Config map[string]any
	// Stats are reported under Stats in /v1/agent/self, as Consul does.
	Stats map[string]map[string]string
}

// Config is what the API is built from: the agent's store, its
// description and the roles it plays. Store and Self are required; every
// other role may be nil, which leaves its endpoints as an agent without
// that part answers them:
//
//   - Mesh nil: no membership endpoints (/v1/agent/members,
//     /v1/catalog/nodes, join, leave, force-leave, /v1/operator/keyring):
//     404.
//   - Snapshots nil: no /v1/edgeplane/snapshot: 404.
//   - Replication nil: no /v1/edgeplane/replication: 404.
//   - Compactor nil: no /v1/edgeplane/store/compact: 404.
//   - Ping nil: no /v1/edgeplane/rpc/ping/<node>: 404.
//   - Revoke nil: no /v1/edgeplane/revoke, /v1/edgeplane/revoked: 404.
//   - Monitor nil: no /v1/agent/monitor: 404.
//   - LogLevel nil: no /v1/edgeplane/log-level: 404.
//   - JoinTokens nil: no /v1/agent/join-token: 404.
//   - Catalog nil: no /v1/agent/service*, /v1/agent/checks,
//     /v1/agent/check/*: 404.
//   - Catalog or Mesh nil: no /v1/catalog/services, /v1/catalog/service/*,
//     /v1/health/*: 404.
//   - Reload nil: PUT /v1/agent/reload answers 500, reload is not
//     available.
//   - Metrics nil: no /metrics, /v1/agent/metrics: 404.
//   - MetricsRelay nil: no /v1/edgeplane/metrics/<node>: 404.
//   - Debug false: no /debug/pprof/: 404 (pprof.go).
//   - Layers nil: no /v1/edgeplane/resolve/: 404.
//   - History nil: no /v1/edgeplane/history/, /v1/edgeplane/rollback:
//     404.
//   - Renders nil: no /v1/edgeplane/render, /v1/edgeplane/render/once:
//     404.
//   - Schemas nil: KV writes are not checked against schemas, and
//     resolve serves stored values as they are.
type Config struct {
	Store Store
	// Self describes the agent; it is called for each request that needs
	// it.
	Self         func() Self
	Mesh         Mesh
	Snapshots    Snapshots
	Replication  Replication
	Compactor    Compactor
	Ping         Pinger
	Revoke       Revoker
	Monitor      Monitor
	LogLevel     LogLeveler
	JoinTokens   JoinTokens
	Reload       Reloader
	Catalog      Catalog
	Metrics      Metrics
	MetricsRelay MetricsRelay
	// Debug serves the runtime's profiles under /debug/pprof/, to
	// loopback clients only (pprof.go). Default false: none.
	Debug   bool
	Layers  Layers
	History History
	Schemas *schema.Guard
	Renders Renders
	// ACL returns the token resolver in effect, read for each request
	// (acl.go). Nil, or a nil Resolver, leaves the API open to every
	// local process: ACLs are off.
	ACL func() *acl.Resolver
	// Hosts says which Host headers the API answers besides loopback
	// ones (guard.go).
	Hosts HostPolicy
	// MaxBlockingQueries caps the blocking queries in flight; past it
	// they are answered 429 (limits.go). 0 sets no cap.
	MaxBlockingQueries int
	// MemberIndex numbers membership changes, which the agent reports to
	// it, for the index of discovery reads. Nil numbers none: a node's
	// serfHealth and meta then change no index, and wake no blocking read.
	MemberIndex *MemberIndex
	// Conns, when set, is the per-client connection limiter applied to
	// the API's listener; its figures are reported in /v1/agent/self.
	Conns *ConnLimiter
	// Log receives failed requests (status 500 and over). Default
	// slog.Default().
	Log *slog.Logger
}

// API serves the local HTTP API. Create it with New; Close ends its
// blocking queries so that an http.Server can shut down promptly.
type API struct {
	store Store
	self  func() Self
	log   *slog.Logger
	mux   *http.ServeMux
	mesh  Mesh

	layers  Layers        // nil: no /v1/edgeplane/resolve/
	history History       // nil: no history, no rollback
	schemas *schema.Guard // nil: values are not typed

	// closed ends when Close is called; blocking queries wait on it.
	closed context.Context
	close  context.CancelFunc

	reload Reloader // PUT /v1/agent/reload
	acl    func() *acl.Resolver

	// readBudget bounds the memory prefix reads hold at once.
	readBudget *byteBudget

	guard    *guard // refuses foreign hosts and cross-site writes
	blocking slots  // blocking queries in flight
	// memberIndex numbers membership changes (nil: none are numbered);
	// removed remembers the discovery reads' removals (discovery_index.go).
	memberIndex *MemberIndex
	removed     *removals
	// evaluated, when set, is told of every discovery answer made,
	// blocking turns included, with the table and membership indexes it
	// saw (tests).
	evaluated func(r *http.Request, table, members uint64)
	monitors  slots        // log streams open
	conns     *ConnLimiter // nil: connections are not limited
	limitLog  rateLimitedLog
	requests  requestCounts // by route and status class
}

// New returns the API over cfg's store, serving the endpoints of the
// roles cfg sets.
func New(cfg Config) *API {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	a := &API{store: cfg.Store, self: cfg.Self, log: cfg.Log, mux: http.NewServeMux(),
		mesh: cfg.Mesh, reload: cfg.Reload, acl: cfg.ACL, readBudget: newByteBudget(readBudgetBytes),
		guard: newGuard(cfg.Hosts), conns: cfg.Conns, memberIndex: cfg.MemberIndex, removed: newRemovals(),
		layers: cfg.Layers, schemas: cfg.Schemas, history: cfg.History}
	a.blocking.max = int64(cfg.MaxBlockingQueries)
	a.monitors.max = MaxMonitors
	a.closed, a.close = context.WithCancel(context.Background())
	a.mux.HandleFunc("GET /v1/agent/self", a.handleSelf)
	a.mux.HandleFunc("GET /v1/status/leader", a.handleLeader)
	a.mux.HandleFunc("GET /v1/status/peers", a.handlePeers)
	a.mux.HandleFunc("PUT /v1/agent/reload", a.handleReload)
	a.mux.HandleFunc("GET /v1/catalog/datacenters", a.handleDatacenters)
	if cfg.Mesh != nil {
		a.handleMesh()
	}
	if cfg.Snapshots != nil {
		a.handleSnapshots(cfg.Snapshots)
	}
	if cfg.Replication != nil {
		a.handleReplication(cfg.Replication)
	}
	if cfg.Compactor != nil {
		a.handleCompact(cfg.Compactor)
	}
	if cfg.Ping != nil {
		a.handlePing(cfg.Ping)
	}
	if cfg.Revoke != nil {
		a.handleRevoke(cfg.Revoke)
	}
	if cfg.Monitor != nil {
		a.handleMonitor(cfg.Monitor)
	}
	if cfg.LogLevel != nil {
		a.handleLogLevel(cfg.LogLevel)
	}
	if cfg.JoinTokens != nil {
		a.handleJoinTokens(cfg.JoinTokens)
	}
	if cfg.Catalog != nil {
		a.handleCatalog(cfg.Catalog)
		a.handleMaintenance(cfg.Catalog)
	}
	if cfg.Metrics != nil {
		a.handleMetrics(cfg.Metrics)
	}
	if cfg.MetricsRelay != nil {
		a.handleMetricsRelay(cfg.MetricsRelay)
	}
	if cfg.Catalog != nil && cfg.Mesh != nil {
		a.handleDiscovery(cfg.Catalog)
	}
	if cfg.Renders != nil {
		a.handleRenders(cfg.Renders)
	}
	if cfg.Debug {
		a.handleProfiles()
	}
	return a
}

// ServeHTTP routes a request that passes the browser guard (guard.go).
// KV, resolve and history paths are matched by hand: keys may hold sequences such as "//" that
// http.ServeMux would redirect away.
// Each request is counted under its route's template and its status's
// class (Requests).
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	route := a.serve(sw, r)
	a.requests.add(route, sw.code())
}

// serve serves r and returns its route.
func (a *API) serve(w http.ResponseWriter, r *http.Request) (route string) {
	if !a.guardRequest(w, r) {
		return a.routeOf(r)
	}
	r = withTrace(r)
	r, ok := a.authorize(w, r)
	if !ok {
		return a.routeOf(r)
	}
	if strings.HasPrefix(r.URL.Path, "/v1/kv/") {
		a.handleKV(w, r)
		return RouteKV
	}
	if a.layers != nil && strings.HasPrefix(r.URL.Path, resolvePrefix) {
		a.handleResolve(w, r)
		return RouteResolve
	}
	if a.history != nil && strings.HasPrefix(r.URL.Path, historyPath) {
		a.handleHistory(w, r)
		return RouteHistory
	}
	if a.history != nil && r.URL.Path == rollbackPath {
		a.handleRollback(w, r)
		return RouteRollback
	}
	a.mux.ServeHTTP(w, r) // sets r.Pattern: the pattern it routed r by
	return routeOfPattern(r.Pattern)
}

// withTrace returns r carrying the trace of its traceparent header when it
// has a valid one (transport.ParseTraceparent; anything else is ignored):
// the lines logged while handling it carry its trace id, and the RPCs
// made for it continue its trace.
func withTrace(r *http.Request) *http.Request {
	tp, ok := transport.ParseTraceparent(r.Header.Get("Traceparent"))
	if !ok {
		return r
	}
	return r.WithContext(transport.ContextWithTraceparent(r.Context(), tp))
}

// Close ends blocking queries in flight; they answer with what they have.
func (a *API) Close() { a.close() }

// noPathToDatacenter is Consul's answer, with a 500, to a request for a
// datacenter it cannot reach.
const noPathToDatacenter = "No path to datacenter"

// otherDatacenter answers as Consul does when dc names a datacenter other
// than the agent's, and reports whether it did: an agent serves its own
// datacenter only. An empty dc means the agent's.
func (a *API) otherDatacenter(w http.ResponseWriter, dc string) bool {
	if dc == "" || dc == a.self().Datacenter {
		return false
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, noPathToDatacenter)
	return true
}

// fail answers with status and err's text, logging a failure of the
// agent (500 and over) with r's context, and so its trace id; r is nil
// where the request is not at hand.
func (a *API) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status >= 500 {
		if r == nil {
			a.log.Error("http api request failed", "status", status, "err", err)
		} else {
			a.log.ErrorContext(r.Context(), "http api request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		}
	}
	http.Error(w, err.Error(), status)
}

func (a *API) handleSelf(w http.ResponseWriter, r *http.Request) {
	s := a.self()
	tags := map[string]string{
		"dc": s.Datacenter, "site": s.Site, "id": s.NodeID, "build": s.Version,
		"role": "node", "rpc_addr": s.RPCAddr,
	}
	for k, v := range s.Tags {
		tags[k] = v
	}
	writeJSON(w, api.AgentSelf{
		Config: api.SelfConfig{
			Datacenter:        s.Datacenter,
			PrimaryDatacenter: s.Datacenter,
			NodeName:          s.NodeName,
			NodeID:            s.NodeID,
			Site:              s.Site,
			Revision:          s.Revision,
			BuildDate:         s.BuildDate,
			Version:           s.Version,
			RPCAddr:           s.RPCAddr,
		},
		Member:      api.SelfMember{Name: s.NodeName, Addr: s.Addr, Port: s.GossipPort, Tags: tags, Status: 1}, // 1: alive
		Meta:        map[string]string{"site": s.Site},
		Stats:       s.Stats,
		DebugConfig: s.Config,
	})
}

func (a *API) rpcAddr() string { return a.self().RPCAddr }

// handleLeader answers with this agent's own RPC address: every agent
// accepts writes, so to a Consul client each one is its own leader.
func (a *API) handleLeader(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, a.rpcAddr())
}

func (a *API) handlePeers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, []string{a.rpcAddr()})
}
