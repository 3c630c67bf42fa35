package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/proxy"
	"github.com/edgeplane/edgeplane/agent/relay"
	"github.com/edgeplane/edgeplane/agent/replica"
	"github.com/edgeplane/edgeplane/agent/schema"
	"github.com/edgeplane/edgeplane/agent/tracing"
	"github.com/edgeplane/edgeplane/agent/version"
	"github.com/edgeplane/edgeplane/agent/watch"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// ShutdownTimeout bounds a graceful shutdown: in-flight HTTP requests get
// this long to finish before their connections are closed.
const ShutdownTimeout = 30 * time.Second

// Agent is one edgeplane node: the components New builds, which Run
// starts in order and stops in reverse.
type Agent struct {
	cfg        config.Config
	log        *slog.Logger
	components []component // in start order; see add

	// The components, as New wires them together.
	data    *dataDir
	store   *store.Store
	mesh    *membership
	rpc     *rpcEndpoint
	names   *nameBindings
	revoked *revocations
	replica *replica.Service
	http    *httpServer
	relay   *relay.Relay
	proxy   *proxy.Proxy
	tracer  *tracing.Tracer
	watches *watch.Manager
	render  *renderer     // nil without render blocks
	scrape  *scrapeServer // nil without metrics_addr
	sup     *supervisor

	// insecureMesh: the agent runs unauthenticated off loopback, as
	// insecure_mesh allows (see checkMeshSecurity).
	insecureMesh bool

	// halt ends Run from inside: after a leave through the API, or when a
	// component fails (its cause is then the error).
	halt context.Context
	stop context.CancelCauseFunc
}

// New builds every component, in the order Run starts them. Each binds
// its ports and opens its files here, so that a port or data dir conflict
// fails New, before anything runs; each gets what it needs of the others
// as it is built.
func New(cfg config.Config, log *slog.Logger) (*Agent, error) {
	return newAgent(cfg, log, buildOptions{})
}

// buildOptions are what tests change of an agent beyond its
// configuration.
type buildOptions struct {
	// catalogClock is the catalog's clock (check runs, TTLs,
	// anti-entropy); nil: the system clock.
	catalogClock catalog.Clock
}

func newAgent(cfg config.Config, log *slog.Logger, opts buildOptions) (_ *Agent, err error) {
	a := &Agent{cfg: cfg, log: log}
	a.halt, a.stop = context.WithCancelCause(context.Background())
	defer func() {
		if err != nil {
			a.close()
		}
	}()

	// Secure by default: off loopback, an unauthenticated mesh needs
	// insecure_mesh, checked before anything is bound or written.
	token, err := cfg.ReadJoinToken()
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if a.insecureMesh, err = checkMeshSecurity(cfg, meshAuthenticated(cfg, token)); err != nil {
		return nil, err
	}
	if a.insecureMesh {
		log.Warn(insecureMeshWarning)
	}
	metricsToken, err := cfg.ReadMetricsToken()
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}

	// The data dir and its store; a join token's key goes into its
	// keyring before the trust mode is chosen from it.
	if a.data, err = openDataDir(cfg, log); err != nil {
		return nil, err
	}
	a.add(a.data)
	a.store = a.data.store
	if err := enrol(cfg, token, a.data.dir, log); err != nil {
		return nil, err
	}
	meshCfg := cfg
	meshCfg.RetryJoin = withSeeds(cfg.RetryJoin, token) // and on reload, below

	// Gossip membership: its port bound, not gossiping until Start. It
	// announces the RPC endpoint's address and certificate, so that
	// socket is bound and the certificate loaded first; the endpoint that
	// serves on them is built next, as it asks the membership who may
	// call.
	id, err := loadRPCIdentity(cfg, a.data.dir, a.store, log)
	if err != nil {
		return nil, err
	}
	trust := newMeshTrust(id, a.store)
	// Which certificate owns each node name (pinned modes); gossip asks
	// it of every node it hears of, so it starts first and stops last.
	if a.names, err = newNameBindings(a.store, id.mode != tlsmesh.FleetCA, log); err != nil {
		id.close()
		return nil, err
	}
	a.add(a.names)
	a.mesh, err = newMembership(meshCfg, a.data.dir, gossipHooks{
		announce:  id.announce,
		nodeID:    a.store.NodeID(),
		identity:  id,
		trust:     trust,
		stopAgent: func() { a.stop(nil) },
	}, log)
	if err != nil {
		id.close()
		return nil, err
	}
	a.add(a.mesh)

	// RPC between agents: the server other agents call, and the client
	// this one calls them with.
	if a.rpc, err = newRPCEndpoint(cfg, id, trust, a.mesh.Mesh, a.store, log); err != nil {
		return nil, err
	}
	a.add(a.rpc)

	// Replication: spreads the store's writes through gossip and RPC, and
	// merges the peers'. Gossip and RPC deliver to it in turn: the deltas
	// and digest roots peers send, and the clock readings of every call.
	// Neither delivers anything before Start, so these are plain
	// assignments.
	a.replica = replica.NewService(replica.ServiceConfig{
		Store:         a.store,
		Self:          cfg.NodeName,
		Mesh:          a.mesh.Mesh,
		Server:        a.rpc.srv,
		Agents:        a.rpc.agents,
		Client:        a.rpc.client,
		MaxClockDrift: cfg.MaxClockDrift.Duration,
		TombstoneTTL:  cfg.TombstoneTTL.Duration,
		// Writes are pushed rather than gossiped long before the
		// broadcast queue fills and drops its oldest.
		MaxGossipQueue: max(1, min(128, cfg.MaxBroadcastQueue/4)),
		Log:            log.With("component", "replica"),
	})
	// Membership has settled once a push-pull with a peer merged, or at
	// once for a node given no seeds: the render blocks that read the
	// catalog wait for it after start.
	settled := new(atomic.Bool)
	settled.Store(len(meshCfg.RetryJoin) == 0)
	a.mesh.Handle(gossip.Handlers{
		OnMessage:  a.replica.HandleGossip,
		LocalState: replica.GossipState(a.store),
		MergeRemoteState: func(buf []byte, join bool) {
			settled.Store(true)
			a.replica.MergeGossipState(buf, join)
		},
		Admit: a.names.admit,
	})
	a.rpc.observeClock = a.replica.ObservePeerClock
	a.add(a.replica)

	// Revocations: a revoked certificate's connections are closed as its
	// entry arrives (meshTrust refuses it at every handshake).
	a.revoked = newRevocations(a.store, a.mesh, id, log)
	a.add(a.revoked)

	// The service catalog: what the API registers on this node, kept
	// locally and published in the replicated catalog table.
	// Its configured services are registered at start and on reload; it
	// follows membership to remove reaped nodes' records and re-stamp its
	// own after a rejoin.
	// The agent's own service is registered on the metrics listener's
	// port, or the HTTP API's, so those are bound first.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("agent: http api: %w", err)
	}
	defer func() {
		if err != nil && a.http == nil { // the HTTP server closes it once built
			ln.Close()
		}
	}()
	metricsLn, err := listenMetrics(cfg, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && metricsLn != nil && a.scrape == nil { // the metrics server closes it once built
			metricsLn.Close()
		}
	}()
	servicePort := agentServicePort(ln, metricsLn)
	regs, err := configuredServices(cfg, servicePort)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	services, err := catalog.New(catalog.Config{Store: a.store, Node: cfg.NodeName, Log: log.With("component", "catalog"), Clock: opts.catalogClock,
		SyncInterval: cfg.CatalogSyncInterval.Duration, Services: regs, EnableLocalScriptChecks: cfg.EnableLocalScriptChecks})
	if err != nil {
		return nil, err
	}
	a.add(services)
	a.add(newCatalogMesh(services, a.mesh.Mesh, log.With("component", "catalog")))
	selfClock := opts.catalogClock
	if selfClock == nil {
		selfClock = catalog.SystemClock{}
	}
	// The service proxy: upstream listeners of the configured services,
	// and the calls other agents carry to this node's instances.
	if a.tracer, err = newTracer(cfg, log.With("component", "tracing")); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.add(a.tracer)
	if a.proxy, err = newServiceProxy(cfg, services, a.rpc, a.tracer, log.With("component", "proxy")); err != nil {
		return nil, err
	}
	a.add(a.proxy)
	a.add(&selfHealth{cat: services, clock: selfClock, dataDir: a.data.dir, maxAhead: cfg.MaxClockDrift.Duration / 2,
		storeNow: func() time.Time { return a.store.Clock().Peek().Time() }, log: log.With("component", "catalog")})

	// The local HTTP API, and the supervision that tells systemd the agent
	// is ready once the API answers, runs the watchdog and reloads. The
	// supervision is built first, as the API reloads through it, and
	// started after it.
	metrics, err := a.newMetrics(services)
	if err != nil {
		return nil, err
	}
	// Every agent serves its metrics to the others over RPC, and relays
	// theirs.
	if a.relay, err = newMetricsRelay(cfg.NodeName, a.rpc, metrics); err != nil {
		return nil, err
	}
	acls, err := newLocalACL(cfg.ACL, log)
	if err != nil {
		return nil, err
	}
	layered, err := newLayered(a.store, cfg)
	if err != nil {
		return nil, err
	}
	schemas := schema.NewGuard(a.store, func(k string) string { return layered.Resolver().Strip(k) })
	keeper := schema.NewKeeper(a.store, schemas, reportConfig(services, log), log.With("component", "schema"))
	a.add(keeper)
	// Render blocks: files written from the store, read through the
	// layers and schemas; each block a check of the agent's own service.
	if a.render, err = newRenderer(cfg, a.store, schemas, layered.Resolver, services, a.mesh.Mesh, settled.Load, log.With("component", "render")); err != nil {
		return nil, err
	}
	a.add(a.render)
	rejoin := func(next config.Config) {
		next.RetryJoin = withSeeds(next.RetryJoin, token)
		a.mesh.rejoin(next)
	}
	sup := newSupervisor(cfg, ln.Addr(), a.store, rejoin, log)
	sup.acl, sup.probe.Token, sup.catalog = acls, acls.probeToken, services
	sup.layers, sup.keeper, sup.servicePort, sup.metrics = layered, keeper, servicePort, metrics
	sup.tracer = a.tracer
	sup.tls = &meshTLS{node: cfg.NodeName, id: id, trust: trust, mesh: a.mesh.Mesh, log: log.With("component", "tls")}
	members := newMemberIndexFeed(a.mesh.Mesh, a.store)
	a.add(members)
	desc := describe{cfg: cfg, inEffect: sup.inEffect, started: time.Now(), data: a.data, mesh: a.mesh, rpc: a.rpc, replica: a.replica,
		insecureMesh: a.insecureMesh, http: func() map[string]string { return a.http.api.Stats() }}
	a.http = newHTTPServer(ln, httpapi.Config{
		Store:        a.store,
		Self:         desc.self,
		Mesh:         meshAPI{m: a.mesh, names: a.names},
		Snapshots:    snapshots{store: a.store, maxAhead: cfg.MaxClockDrift.Duration, log: log},
		Replication:  a.replica,
		Compactor:    compactor{store: a.store, log: log},
		Ping:         a.rpc,
		Revoke:       a.revoked,
		Monitor:      monitorOf(log),
		LogLevel:     sup,
		JoinTokens:   joinTokens{mode: a.rpc.mode, keyring: filepath.Join(a.data.dir, keyringFileName), mesh: a.mesh},
		Reload:       reloadAPI{sup},
		Catalog:      services,
		Metrics:      metrics,
		MetricsRelay: relayAPI{a.relay},
		Debug:        cfg.EnableDebug,
		Layers:       layered,
		History:      a.store,
		Schemas:      schemas,
		Renders:      a.render,
		ACL:          acls.resolver,
		Log:          log,

		Hosts:              httpHosts(cfg, ln.Addr(), a.mesh.LocalMember().Addr),
		MaxBlockingQueries: cfg.HTTPMaxBlockingQueries,
		MemberIndex:        members.index,
		Conns:              httpapi.NewConnLimiter(cfg.HTTPMaxConnsPerClient, cfg.HTTPMaxConns, log),
	}, func(err error) { a.stop(err) }, log)
	a.add(a.http)
	// Exec watches read through the API's handler, in process, and stop
	// before it drains.
	if a.watches, err = newWatches(cfg, a.http.api, log); err != nil {
		return nil, err
	}
	a.add(a.watches)
	sup.watches = a.watches
	sup.render = a.render
	if metricsLn != nil {
		a.scrape = newScrapeServer(metricsLn, httpapi.ScrapeConfig{Metrics: metrics, Relay: relayAPI{a.relay}, Token: metricsToken, Log: log},
			func(err error) { a.stop(err) }, log)
		a.add(a.scrape)
	}
	a.sup = sup
	a.add(a.sup)
	return a, nil
}

// Run starts the components in order and runs until ctx ends (or the
// agent leaves through its API, or a component fails), then stops them in
// reverse: systemd is told STOPPING=1, the HTTP API ends its blocking
// queries and waits up to ShutdownTimeout for requests in flight,
// replication stops, RPC drains, the agent leaves the mesh
// (leave_on_terminate) and the store closes last. Every goroutine it
// started has ended when it returns.
func (a *Agent) Run(ctx context.Context) error {
	local := a.mesh.LocalMember()
	a.log.Info("agent started", "node", a.cfg.NodeName, "node_id", a.store.NodeID(),
		"datacenter", a.cfg.Datacenter, "site", a.cfg.Site, "data_dir", a.data.dir,
		"http_addr", a.HTTPAddr().String(), "gossip_addr", local.Address(),
		"rpc_addr", local.Tags[gossip.MetaRPC], "rpc_trust", a.rpc.mode.String(),
		"version", version.Version, "dev", a.cfg.Dev)
	err := a.start(ctx)
	if err == nil {
		select {
		case <-ctx.Done():
		case <-a.halt.Done():
			if cause := context.Cause(a.halt); !errors.Is(cause, context.Canceled) {
				err = cause
			}
		}
	}
	a.log.Info("agent shutting down")
	a.close()
	a.log.Info("agent stopped")
	return err
}

// SetHooks connects the agent to the process that runs it (see Hooks).
// Call it before Run.
func (a *Agent) SetHooks(h Hooks) { a.sup.Hooks = h }

// Reload re-reads the configuration through Hooks.Reload and applies what
// can change while the agent runs (log_level, memory_limit,
// metrics_peer_limit, retry_join, layers, environment, the acl section,
// services, watches, render blocks, and the tls files in the fleet CA mode); other changed
// options are listed as needing a restart, and TLS material that fails
// its checks as rejected. It fails with
// ErrReloadUnavailable, ErrReloadRejected (the running configuration
// stays) or ErrStopping. SIGHUP, `edgeplane reload` and PUT
// /v1/agent/reload all end here.
func (a *Agent) Reload() (ReloadResult, error) { return a.sup.Reload() }

// CheckHealth reads the store and asks the agent's own HTTP API for
// /v1/agent/self. It passes when both answer; readiness and the watchdog's
// pings wait on it (unless Hooks.HealthCheck replaces it).
func (a *Agent) CheckHealth(ctx context.Context) error { return a.sup.probe.Check(ctx) }

// HTTPAddr returns the address the HTTP API listens on.
func (a *Agent) HTTPAddr() net.Addr { return a.http.ln.Addr() }

// Store returns the agent's store.
func (a *Agent) Store() *store.Store { return a.store }
