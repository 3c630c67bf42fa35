package agent

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/edgeplane/edgeplane/agent/config"
)

// Reload errors.
var (
	// ErrReloadUnavailable means the agent was given no configuration
	// source to reload from (see Hooks.Reload).
	ErrReloadUnavailable = errors.New("agent: reload unavailable: no configuration source")

	// ErrReloadRejected means the configuration read on reload is invalid;
	// the running configuration stays in effect. The error wraps the
	// configuration's own errors, which name file, line and key.
	ErrReloadRejected = errors.New("agent: new configuration rejected, running configuration kept")

	// ErrStopping means a reload arrived after shutdown began.
	ErrStopping = errors.New("agent: shutting down")
)

// ReloadResult says what a reload changed.
type ReloadResult struct {
	// Applied lists the options whose new values are in effect.
	Applied []string
	// RestartRequired lists the options whose new values take effect only
	// when the agent restarts; until then the old values stay in effect.
	RestartRequired []string
	// Rejected lists the options whose new values were refused, with the
	// reason; their old values stay in effect.
	Rejected []ReloadRejection
}

// liveOptions apply an option's new value to a running agent and record it
// in running. An option not listed, or whose function returns false, takes
// effect at the next restart.
var liveOptions = map[string]func(s *supervisor, running *config.Config, next config.Config) bool{
	"log_level": func(s *supervisor, running *config.Config, next config.Config) bool {
		if s.LogLevel == nil {
			return false
		}
		s.LogLevel.Set(next.SlogLevel())
		running.LogLevel = next.LogLevel
		return true
	},
	"memory_limit": func(s *supervisor, running *config.Config, next config.Config) bool {
		applyMemoryLimit(next)
		running.MemoryLimit = next.MemoryLimit
		return true
	},
	"metrics_peer_limit": func(s *supervisor, running *config.Config, next config.Config) bool {
		if s.metrics == nil {
			return false
		}
		s.metrics.SetPeerLimit(next.MetricsPeerLimit)
		running.MetricsPeerLimit = next.MetricsPeerLimit
		return true
	},
	// New seeds are used by the reconnect loop from now on, and joined once
	// in the background.
	"retry_join": func(s *supervisor, running *config.Config, next config.Config) bool {
		s.rejoin(next)
		running.RetryJoin = next.RetryJoin
		return true
	},
	// Configured services: every reload registers them (reloadCatalog).
	"services": func(s *supervisor, running *config.Config, next config.Config) bool {
		if s.catalog == nil {
			return false
		}
		if !slices.Equal(running.ProxyUpstreams(), next.ProxyUpstreams()) {
			// The proxy's listeners are bound at start: the registrations
			// are applied (reloadCatalog), the upstreams at the restart.
			s.log.Warn("changed upstreams of services take effect only after a restart")
			return false
		}
		running.Services = next.Services
		return true
	},
	// Exec watches: new ones start (and run their handler), removed ones
	// stop, unchanged ones go on (watches.go).
	"watches": func(s *supervisor, running *config.Config, next config.Config) bool {
		if s.watches == nil {
			return false
		}
		if err := s.watches.Set(watchSpecs(next)); err != nil {
			s.log.Error("applying the reloaded watches", "err", err)
			return false
		}
		running.Watches = next.Watches
		return true
	},
	// Render blocks: new ones start, removed ones stop and their checks
	// go, changed ones start again, unchanged ones go on (render.go).
	"render": func(s *supervisor, running *config.Config, next config.Config) bool {
		if s.render == nil {
			return false
		}
		if err := s.render.Set(next); err != nil {
			s.log.Error("applying the reloaded render blocks", "err", err)
			return false
		}
		running.Render = next.Render
		return true
	},
	// New traces are sampled at the new ratio from the next call.
	"tracing.sample_ratio": applySampleRatio,
	// The layers keys are resolved through (/v1/edgeplane/resolve/).
	"layers":      applyLayers,
	"environment": applyLayers,
	// The tokens of the local HTTP API, applied as one section.
	"acl.enabled":            applyACL,
	"acl.default_policy":     applyACL,
	"acl.anonymous_policies": applyACL,
	"acl.policies":           applyACL,
	"acl.tokens":             applyACL,
}

// Reload re-reads the configuration through Hooks.Reload and applies what
// can change while the agent runs: log_level, memory_limit,
// metrics_peer_limit, retry_join, layers, environment, services, watches, render,
// tracing.sample_ratio, the acl
// section (whose secret files are re-read on every reload) and, in the
// fleet CA mode, the tls section (whose files are re-read on every
// reload; see meshTLS). New TLS material that fails its checks is listed
// in Rejected with the reason, logged, and the old stays in effect. Other
// changed options are listed in RestartRequired and logged. An invalid
// configuration is rejected with ErrReloadRejected, logged with its
// reasons, and the running configuration stays in effect. Once the agent
// has reported itself ready, systemd is told RELOADING=1 before and READY=1
// after, whatever the outcome. SIGHUP,
// `edgeplane reload` and PUT /v1/agent/reload all end here.
func (s *supervisor) Reload() (ReloadResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return ReloadResult{}, ErrStopping
	}
	if s.Hooks.Reload == nil {
		return ReloadResult{}, ErrReloadUnavailable
	}
	notify := s.ready // before READY=1, systemd is not told of reloads
	if notify {
		if err := s.Notifier.Reloading(); err != nil {
			s.log.Warn("telling systemd the agent is reloading", "err", err)
		}
	}
	s.log.Info("reloading configuration")
	res, err := s.reloadLocked()
	s.log.Debug("configuration in effect", "log_level", s.running.LogLevel, "memory_limit", s.running.MemoryLimit)
	status := s.status
	switch {
	case err != nil:
		status += "; last reload rejected, running configuration kept"
	case len(res.Rejected) > 0:
		status += fmt.Sprintf("; last reload rejected %s, kept the running values", rejectedKeys(res.Rejected))
	case len(res.RestartRequired) > 0:
		status += fmt.Sprintf("; restart to apply %v", res.RestartRequired)
	}
	if notify {
		if nerr := s.Notifier.Ready(status); nerr != nil {
			s.log.Warn("telling systemd the reload is done", "err", nerr)
		}
	}
	return res, err
}

func (s *supervisor) reloadLocked() (ReloadResult, error) {
	running := s.current()
	next, err := s.Hooks.Reload()
	if err != nil {
		s.log.Error("configuration reload rejected; the running configuration stays in effect", "err", err)
		return ReloadResult{}, fmt.Errorf("%w:\n%w", ErrReloadRejected, err)
	}
	var res ReloadResult
	var tlsChanged []string
	for _, key := range config.Changed(running, next) {
		if slices.Contains(tlsKeys, key) {
			tlsChanged = append(tlsChanged, key)
			continue
		}
		if apply, ok := liveOptions[key]; ok && apply(s, &running, next) {
			res.Applied = append(res.Applied, key)
		} else {
			res.RestartRequired = append(res.RestartRequired, key)
		}
	}
	s.reloadTLS(&running, next, tlsChanged, &res)
	s.rereadACLSecrets(running, res)
	s.reloadCatalog(next)
	s.running = running
	s.shown.Store(&running)
	s.log.Info("configuration reloaded", "applied", res.Applied, "restart_required", res.RestartRequired,
		"rejected", rejectedKeys(res.Rejected))
	if len(res.RestartRequired) > 0 {
		s.log.Warn("changed options take effect only after a restart", "keys", res.RestartRequired)
	}
	return res, nil
}

// rejectedKeys lists the options of rejections.
func rejectedKeys(rs []ReloadRejection) []string {
	keys := make([]string, len(rs))
	for i, r := range rs {
		keys[i] = r.Key
	}
	return keys
}

// errLogLevelFixed: the agent was given no log level it may change.
var errLogLevelFixed = errors.New("agent: this agent's log level cannot be changed while it runs")

// SetLogLevel sets the agent's log level until the next restart, or the
// next reload that finds log_level changed from it (a reload of an
// unchanged file restores the configured level).
func (s *supervisor) SetLogLevel(name string) error {
	level, err := config.ParseLogLevel(name)
	if err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.LogLevel == nil {
		return errLogLevelFixed
	}
	s.LogLevel.Set(level)
	s.running.LogLevel = strings.ToLower(name)
	s.log.Info("log level set through the API", "log_level", s.running.LogLevel)
	return nil
}

// reloadCatalog registers the configured services, as Consul does on
// every reload: new and changed ones are registered again, removed ones
// deregistered, one deregistered through the API since comes back; then
// anti-entropy runs. Registrations through the API are left alone.
func (s *supervisor) reloadCatalog(next config.Config) {
	if s.catalog == nil {
		return
	}
	regs, err := configuredServices(next, s.servicePort)
	if err == nil {
		err = s.catalog.SetConfigServices(regs)
	}
	if err != nil {
		s.log.Error("registering the configured services", "err", err)
	}
	if err := s.catalog.Sync(); err != nil {
		s.log.Error("anti-entropy after a reload", "err", err)
	}
}
