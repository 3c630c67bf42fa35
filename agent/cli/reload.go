package cli

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/edgeplane/edgeplane/agent"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/sdnotify"
)

// superviseAgent connects a to systemd (when NOTIFY_SOCKET is set), lets a
// reload re-read the configuration exactly as the agent was started (same
// files, directories, environment and flags), and turns SIGHUP into a
// reload. The returned function stops listening for SIGHUP.
func superviseAgent(std IO, a *agent.Agent, loader *config.Loader, level *slog.LevelVar, log *slog.Logger) (stop func()) {
	notifier, watchdog, err := sdnotify.FromEnv()
	if err != nil {
		log.Warn("systemd watchdog off", "err", err)
	}
	a.SetHooks(agent.Hooks{
		Notifier:         notifier,
		WatchdogInterval: watchdog,
		Reload:           func() (config.Config, error) { return loader.Load(std.Getenv) },
		LogLevel:         level,
	})

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			select {
			case <-hup:
				log.Info("caught signal, reloading configuration", "signal", "hangup")
				a.Reload() // logs its outcome
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-ended
	}
}

type reloadCmd struct{ noFlags }

func (*reloadCmd) spec() spec {
	return spec{agent: true, help: `
Asks the local agent to re-read its configuration files, as SIGHUP does.
Options that can change while the agent runs (log_level, memory_limit,
metrics_peer_limit, retry_join, layers, environment, acl, services, and
the tls files, whose contents are re-read too) take effect at once; the
command lists any other changed option, which takes effect at the next
restart. New TLS files serve the next handshakes while open connections
keep running; a certificate that does not match its key, has expired, or
does not chain to the CA file is rejected, listed with the reason, and the
old one kept (exit status 1). An invalid configuration is rejected with
its reasons and the running one stays in effect.`}
}

func (*reloadCmd) run(e *env) int {
	rep, err := e.client.Reload(e.ctx)
	if err != nil {
		return fail(e, "reload failed: %v", err)
	}
	fmt.Fprintln(e.Stdout, "Configuration reload triggered")
	if len(rep.Applied) > 0 {
		fmt.Fprintf(e.Stdout, "Applied: %s\n", strings.Join(rep.Applied, ", "))
	}
	if len(rep.RestartRequired) > 0 {
		fmt.Fprintf(e.Stdout, "Changed but needing a restart: %s\n", strings.Join(rep.RestartRequired, ", "))
	}
	for _, r := range rep.Rejected {
		fmt.Fprintf(e.Stdout, "Rejected, old value kept: %s: %s\n", r.Key, r.Reason)
	}
	if len(rep.Applied)+len(rep.RestartRequired)+len(rep.Rejected) == 0 {
		fmt.Fprintln(e.Stdout, "No option changed")
	}
	if len(rep.Rejected) > 0 {
		return 1
	}
	return 0
}
