package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/sdnotify"
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

	// HealthCheck replaces CheckHealth as the check that gates readiness
	// and watchdog pings. Tests use it to wedge the agent.
	HealthCheck func(ctx context.Context) error
}

// supervision is the agent's state towards the process around it.
type supervision struct {
	Hooks

	mu       sync.Mutex    // serialises reloads and the start of shutdown
	running  config.Config // the configuration in effect, live changes applied
	started  bool          // running is set
	ready    bool          // READY=1 has been sent
	stopping bool          // shutdown has begun: no more reloads
}

// current returns the configuration in effect, which is initial until the
// first reload. The caller holds s.mu.
func (s *supervision) current(initial config.Config) config.Config {
	if !s.started {
		s.running, s.started = initial, true
	}
	return s.running
}

// SetHooks installs h. Call it before Run.
func (a *Agent) SetHooks(h Hooks) {
	a.sup.Hooks = h
	a.api.SetReload(func() (httpapi.ReloadReport, error) {
		res, err := a.Reload()
		return httpapi.ReloadReport{Applied: res.Applied, RestartRequired: res.RestartRequired}, err
	})
}

// readyRetry is how often the agent re-runs its health check while waiting
// to declare itself ready.
const readyRetry = 100 * time.Millisecond

// supervise starts what runs beside the API once it serves: it applies the
// runtime settings, then waits for the health check to pass, sends
// READY=1, and runs the watchdog. The returned function sends STOPPING=1,
// stops all of it and waits for it to end.
func (a *Agent) supervise(ctx context.Context) (stop func()) {
	s := &a.sup
	s.mu.Lock()
	running := s.current(a.cfg)
	applyMemoryLimit(running)
	s.mu.Unlock()
	a.log.Info("runtime settings", "memory_limit", running.MemoryLimit,
		"memory_limit_bytes", debug.SetMemoryLimit(-1), "gomaxprocs", runtime.GOMAXPROCS(0))

	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if !a.waitHealthy(ctx) {
			return
		}
		s.mu.Lock()
		if !s.stopping {
			if err := s.Notifier.Ready(a.status()); err != nil {
				a.log.Warn("telling systemd the agent is ready", "err", err)
			}
			s.ready = true
		}
		s.mu.Unlock()
		a.log.Debug("agent ready: health check passed", "notify", s.Notifier.Enabled())
		if s.WatchdogInterval > 0 {
			w := &sdnotify.Watchdog{
				Notifier: s.Notifier,
				Interval: s.WatchdogInterval,
				Check:    a.healthCheck(),
				Log:      a.log,
			}
			a.log.Info("systemd watchdog on", "interval", s.WatchdogInterval, "ping_every", w.Period())
			w.Run(ctx)
		}
	}()
	return func() {
		s.mu.Lock()
		s.stopping = true
		s.mu.Unlock()
		if err := s.Notifier.Stopping("shutting down"); err != nil {
			a.log.Warn("telling systemd the agent is stopping", "err", err)
		}
		cancel()
		<-done
	}
}

// status is the status line systemd shows while the agent serves.
func (a *Agent) status() string {
	return fmt.Sprintf("serving on %s as node %s", a.ln.Addr(), a.cfg.NodeName)
}

// waitHealthy runs the health check until it passes, and reports whether
// it did before ctx ended.
func (a *Agent) waitHealthy(ctx context.Context) bool {
	check := a.healthCheck()
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
			a.log.Warn("agent not ready yet: health check failing", "err", err)
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

func (a *Agent) healthCheck() func(context.Context) error {
	if a.sup.HealthCheck != nil {
		return a.sup.HealthCheck
	}
	return a.CheckHealth
}

// healthKey is the key the health check reads. It need not exist: the read
// proves the store answers.
const healthKey = "edgeplane/health"

// probeClient makes a new connection for every probe, so that a probe
// proves the API still accepts connections, not only that one stays open.
var probeClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// CheckHealth reads the store and asks the agent's own HTTP API for
// /v1/agent/self. It passes when both answer; the watchdog pings only
// then. The store read does not take ctx: a store that does not answer
// keeps the check from returning, and the watchdog starts no other.
func (a *Agent) CheckHealth(ctx context.Context) error {
	if _, _, _, err := a.store.Get(healthKey); err != nil {
		return fmt.Errorf("store read: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+probeAddr(a.ln.Addr())+"/v1/agent/self", nil)
	if err != nil {
		return fmt.Errorf("http api probe: %w", err)
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return fmt.Errorf("http api probe: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("http api probe: /v1/agent/self answered %s", resp.Status)
	}
	return nil
}

// probeAddr is where the agent reaches its own listener: an unspecified
// address (0.0.0.0, ::) is reached through loopback.
func probeAddr(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	ip := net.IPv4(127, 0, 0, 1)
	if tcp.IP.To4() == nil {
		ip = net.IPv6loopback
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
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
