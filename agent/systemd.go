package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/schema"
	"github.com/edgeplane/edgeplane/agent/sdnotify"
	"github.com/edgeplane/edgeplane/agent/telemetry"
	"github.com/edgeplane/edgeplane/agent/tracing"
	"github.com/edgeplane/edgeplane/agent/watch"
	"github.com/edgeplane/edgeplane/store"
)

// Hooks connect an agent to the process that runs it: the service manager
// it reports to, where a reload reads configuration from, and the logger's
// level. Every field is optional; an agent without hooks runs the same but
// sends no notifications and cannot reload.
type Hooks struct {
	// Notifier receives READY=1 once the agent serves, RELOADING=1 and
	// READY=1 around a reload, STOPPING=1 at shutdown and the watchdog's
	// pings.
	Notifier *sdnotify.Notifier

	// WatchdogInterval is systemd's WatchdogSec (from WATCHDOG_USEC); 0
	// turns the watchdog off. The agent pings at half of it, each time only
	// after HealthCheck has passed.
	WatchdogInterval time.Duration

	// Reload re-reads the configuration from the sources the agent was
	// started with. Nil: Reload answers ErrReloadUnavailable.
	Reload func() (config.Config, error)

	// LogLevel is the level of the agent's logger; a reload sets it. Nil:
	// log_level changes wait for a restart.
	LogLevel *slog.LevelVar

	// HealthCheck replaces Agent.CheckHealth as the check that gates
	// readiness and watchdog pings. Tests use it to wedge the agent.
	HealthCheck func(ctx context.Context) error
}

// supervisor is the agent's side towards the process around it: it tells
// systemd the agent is ready once its health check passes, runs the
// watchdog, tells systemd when the agent stops, and reloads the
// configuration. It is the last component started and the first closed.
type supervisor struct {
	Hooks // set by SetHooks before Run

	initial config.Config
	log     *slog.Logger
	status  string               // systemd's status line while the agent serves
	probe   sdnotify.HealthProbe // the health check unless Hooks replaces it
	rejoin  func(next config.Config)
	acl     *localACL // the HTTP API's tokens, rebuilt on reload
	layers  *layered  // the layers keys resolve through, rebuilt on reload
	// catalog gets the configured services on reload, and syncs.
	catalog *catalog.Catalog
	// servicePort is the port of the agent's own service: metrics_addr's
	// or the HTTP API's (agentServicePort).
	servicePort int
	// keeper checks typed keys again when a reload changes the layers.
	keeper *schema.Keeper
	// tls swaps reloaded TLS material in (fleet CA mode); metrics takes a
	// reloaded metrics_peer_limit.
	tls     *meshTLS
	metrics *telemetry.Metrics
	// watches takes the reloaded exec watches; render the reloaded
	// render blocks.
	watches *watch.Manager
	render  *renderer
	// tracer takes a reloaded tracing.sample_ratio.
	tracer *tracing.Tracer

	mu      sync.Mutex    // serialises reloads and the start of shutdown
	running config.Config // the configuration in effect, live changes applied
	started bool          // running is set
	// shown is running once a reload changed it, read without s.mu for
	// /v1/agent/self (inEffect).
	shown    atomic.Pointer[config.Config]
	ready    bool // READY=1 has been sent
	stopping bool // shutdown has begun: no more reloads

	stop context.CancelFunc
	done chan struct{} // closed when Start's goroutine has ended
}

// newSupervisor supervises an agent configured by cfg whose HTTP API
// listens on api and whose store is st. rejoin applies a reloaded
// retry_join.
func newSupervisor(cfg config.Config, api net.Addr, st *store.Store, rejoin func(config.Config), log *slog.Logger) *supervisor {
	return &supervisor{
		initial: cfg,
		log:     log,
		status:  fmt.Sprintf("serving on %s as node %s", api, cfg.NodeName),
		probe: sdnotify.HealthProbe{
			ReadStore: func() error { _, _, _, err := st.Get(healthKey); return err },
			API:       api,
			Path:      "/v1/agent/self",
		},
		rejoin: rejoin,
	}
}

// healthKey is the key the health check reads. It need not exist: the read
// proves the store answers.
const healthKey = "edgeplane/health"

// current returns the configuration in effect, which is initial until the
// first reload. The caller holds s.mu.
func (s *supervisor) current() config.Config {
	if !s.started {
		s.running, s.started = s.initial, true
	}
	return s.running
}

// inEffect returns the configuration in effect, as current does, without
// waiting for a reload in progress.
func (s *supervisor) inEffect() config.Config {
	if c := s.shown.Load(); c != nil {
		return *c
	}
	return s.initial
}

// readyRetry is how often the agent re-runs its health check while waiting
// to declare itself ready.
const readyRetry = 100 * time.Millisecond

// Start applies the runtime settings, then, in the background, waits for
// the health check to pass, sends READY=1, and runs the watchdog.
func (s *supervisor) Start(context.Context) error {
	s.mu.Lock()
	running := s.current()
	applyMemoryLimit(running)
	s.mu.Unlock()
	s.log.Info("runtime settings", "memory_limit", running.MemoryLimit,
		"memory_limit_bytes", debug.SetMemoryLimit(-1), "gomaxprocs", runtime.GOMAXPROCS(0))

	ctx, cancel := context.WithCancel(context.Background())
	s.stop, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		if !s.waitHealthy(ctx) {
			return
		}
		s.mu.Lock()
		if !s.stopping {
			if err := s.Notifier.Ready(s.status); err != nil {
				s.log.Warn("telling systemd the agent is ready", "err", err)
			}
			s.ready = true
		}
		s.mu.Unlock()
		s.log.Debug("agent ready: health check passed", "notify", s.Notifier.Enabled())
		if s.WatchdogInterval > 0 {
			w := &sdnotify.Watchdog{
				Notifier: s.Notifier,
				Interval: s.WatchdogInterval,
				Check:    s.healthCheck(),
				Log:      s.log,
			}
			s.log.Info("systemd watchdog on", "interval", s.WatchdogInterval, "ping_every", w.Period())
			w.Run(ctx)
		}
	}()
	return nil
}

// Close refuses further reloads, sends STOPPING=1, and stops what Start
// started.
func (s *supervisor) Close() error {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	if s.stop == nil {
		return nil // never started: systemd was told nothing
	}
	if err := s.Notifier.Stopping("shutting down"); err != nil {
		s.log.Warn("telling systemd the agent is stopping", "err", err)
	}
	s.stop()
	<-s.done
	return nil
}

// waitHealthy runs the health check until it passes, and reports whether
// it did before ctx ended.
func (s *supervisor) waitHealthy(ctx context.Context) bool {
	check := s.healthCheck()
	t := time.NewTicker(readyRetry)
	defer t.Stop()
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 10*readyRetry)
		err := check(cctx)
		cancel()
		if err == nil {
			return true
		}
		if attempt == 10 {
			s.log.Warn("agent not ready yet: health check failing", "err", err)
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

func (s *supervisor) healthCheck() func(context.Context) error {
	if s.HealthCheck != nil {
		return s.HealthCheck
	}
	return s.probe.Check
}

// goMemoryLimit is the runtime's soft memory limit before the agent set
// one: GOMEMLIMIT, or none. memory_limit "off" restores it.
var goMemoryLimit = debug.SetMemoryLimit(-1)

// applyMemoryLimit sets the Go soft memory limit from c.
func applyMemoryLimit(c config.Config) {
	if n, on := c.MemoryLimitBytes(); on {
		debug.SetMemoryLimit(n)
	} else {
		debug.SetMemoryLimit(goMemoryLimit)
	}
}
