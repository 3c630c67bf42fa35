package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/replica"
	"github.com/edgeplane/edgeplane/agent/version"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/transport"
)

// ShutdownTimeout bounds a graceful shutdown: in-flight HTTP requests get
// this long to finish before their connections are closed.
const ShutdownTimeout = 30 * time.Second

// Agent is one edgeplane node: its store and its local HTTP API. Build it
// with New, run it with Run.
type Agent struct {
	cfg     config.Config
	log     *slog.Logger
	store   *store.Store
	api     *httpapi.API
	srv     *http.Server
	ln      net.Listener
	dataDir string
	tempDir bool // dev mode: dataDir is removed on shutdown
	started time.Time
	sup     supervision // systemd, reload and log level; see SetHooks
	mesh    *gossip.Mesh
	// meshReady publishes mesh to goroutines started before it exists.
	meshReady atomic.Pointer[gossip.Mesh]
	rpc       *rpc
	// members lets RPC authentication wait briefly for gossip news.
	members *memberWaiter
	replica *replica.Replica
	// replicaReady publishes replica to gossip and RPC callbacks that may
	// run before it exists.
	replicaReady atomic.Pointer[replica.Replica]

	// stopSelf ends Run from inside, e.g. after a leave through the API.
	stopSelf context.CancelFunc
	stopCtx  context.Context
}

// New opens the store, binds the HTTP listener and starts gossip (without
// joining anyone), so that a port or data dir conflict fails here, before
// anything runs.
func New(cfg config.Config, log *slog.Logger) (_ *Agent, err error) {
	a := &Agent{cfg: cfg, log: log, dataDir: cfg.DataDir, started: time.Now()}
	if a.dataDir == "" {
		if !cfg.Dev {
			return nil, errors.New("agent: data_dir is required outside dev mode")
		}
		if a.dataDir, err = makeDevDir(log); err != nil {
			return nil, fmt.Errorf("agent: dev data dir: %w", err)
		}
		a.tempDir = true
	}
	defer func() {
		if err != nil {
			a.cleanup()
		}
	}()
	a.store, err = store.Open(a.dataDir, store.Options{ClockFloor: version.Floor()})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.reportQuarantine()
	a.ln, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("agent: http api: %w", err)
	}
	if err = a.startRPC(); err != nil {
		return nil, err
	}
	if err = a.startMesh(); err != nil {
		return nil, err
	}
	a.startReplica()
	a.stopCtx, a.stopSelf = context.WithCancel(context.Background())
	a.api = httpapi.New(a.store, a.self, log)
	a.api.HandleMesh(meshAPI{a})
	a.api.HandleSnapshots(httpapi.Snapshots{
		Save:    func(w io.Writer) error { _, err := a.store.Snapshot(w); return err },
		Restore: a.restoreSnapshot,
	})
	a.api.HandleReplication(a.replicationState)
	a.api.HandlePing(func(ctx context.Context, node string) (string, time.Duration, error) {
		res, err := a.Ping(ctx, node)
		return res.Addr, res.RTT, err
	})
	a.srv = &http.Server{
		Handler:           a.api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return a, nil
}

// HTTPAddr returns the address the HTTP API listens on.
func (a *Agent) HTTPAddr() net.Addr { return a.ln.Addr() }

// Store returns the agent's store.
func (a *Agent) Store() *store.Store { return a.store }

// Run joins the mesh in the background and serves until ctx ends (or the
// agent leaves through its API), then shuts down: it stops accepting
// requests, ends blocking queries, waits up to ShutdownTimeout for requests
// in flight, leaves the mesh (leave_on_terminate), stops its background
// loops and closes the store. Every goroutine
// it started has ended when it returns.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info("agent started", "node", a.cfg.NodeName, "node_id", a.store.NodeID(),
		"datacenter", a.cfg.Datacenter, "site", a.cfg.Site, "data_dir", a.dataDir,
		"http_addr", a.ln.Addr().String(), "gossip_addr", a.mesh.LocalMember().Address(),
		"rpc_addr", a.mesh.LocalMember().Tags[gossip.MetaRPC], "rpc_trust", a.rpc.mode.String(),
		"version", version.Version, "dev", a.cfg.Dev)

	loops, stopLoops := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.collectTombstones(loops) })
	wg.Go(func() { a.replica.Run(loops) })
	wg.Go(func() { a.watchMembers(loops) })

	serveErr := make(chan error, 1)
	wg.Go(func() { serveErr <- a.srv.Serve(a.ln) })
	wg.Go(func() {
		// Shutdown and Close end Serve with ErrServerClosed: a clean stop.
		if err := a.rpc.srv.Serve(context.Background()); err != nil && !errors.Is(err, transport.ErrServerClosed) {
			a.log.Error("rpc server stopped", "err", err)
		}
	})
	stopSupervision := a.supervise(ctx) // READY=1 once healthy, then the watchdog

	a.joinMesh(loops)

	var err error
	select {
	case <-ctx.Done():
	case <-a.stopCtx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("agent: http api: %w", err)
	}
	a.log.Info("agent shutting down")
	stopSupervision() // STOPPING=1
	a.api.Close()
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if serr := a.srv.Shutdown(sctx); serr != nil {
		a.log.Warn("http api did not drain in time", "err", serr)
		a.srv.Close()
	}
	a.stopRPC()
	a.stopMesh(a.cfg.LeaveOnTerminate)
	stopLoops()
	wg.Wait()
	a.cleanup()
	a.log.Info("agent stopped")
	return err
}

// cleanup closes what New opened.
func (a *Agent) cleanup() {
	if a.mesh != nil {
		a.mesh.Shutdown()
	}
	if a.stopSelf != nil {
		a.stopSelf()
	}
	if a.rpc != nil {
		a.rpc.srv.Close()
		a.rpc.client.Close()
	}
	if a.ln != nil {
		a.ln.Close()
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			a.log.Error("closing store", "err", err)
		}
	}
	if a.tempDir {
		os.RemoveAll(a.dataDir)
	}
}

// collectTombstones removes tombstones older than tombstone_ttl, measured
// on the hybrid logical clock rather than the wall clock.
func (a *Agent) collectTombstones(ctx context.Context) {
	ttl := a.cfg.TombstoneTTL.Duration
	t := time.NewTicker(min(max(ttl/10, time.Minute), time.Hour))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := a.replica.CollectTombstones()
		if err != nil {
			a.log.Error("collecting tombstones", "err", err)
		} else if n > 0 {
			a.log.Debug("collected tombstones", "count", n, "horizon", a.store.Horizon().String())
		}
	}
}

func (a *Agent) self() httpapi.Self {
	local := a.mesh.LocalMember()
	return httpapi.Self{
		NodeName:   a.cfg.NodeName,
		NodeID:     a.store.NodeID(),
		Datacenter: a.cfg.Datacenter,
		Site:       a.cfg.Site,
		Version:    version.Version,
		Revision:   version.Commit,
		BuildDate:  version.BuildDate,
		Addr:       local.Addr.String(),
		GossipPort: int(local.Port),
		RPCAddr:    local.Tags[gossip.MetaRPC],
		Tags:       local.Tags,
		Stats: map[string]map[string]string{
			"agent": {
				"data_dir": a.dataDir,
				"dev":      strconv.FormatBool(a.cfg.Dev),
				"uptime":   time.Since(a.started).Round(time.Second).String(),
			},
			"rpc": {
				"addr":  local.Tags[gossip.MetaRPC],
				"trust": a.rpc.mode.String(),
			},
			"replication": a.replicationStats(),
			"store": {
				"index": strconv.FormatUint(a.store.Index(), 10),
				"clock": a.store.Clock().Peek().String(),
				// Records whose keys are not valid UTF-8, kept apart.
				"quarantined": strconv.Itoa(len(a.quarantine())),
			},
		},
	}
}
