package cli

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
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

func runReload(std IO, args []string) int {
	fs := newFlagSet(std, "reload", "", `
Asks the local agent to re-read its configuration files, as SIGHUP does.
Options that can change while the agent runs (log_level, memory_limit) take
effect at once; the command lists any other changed option, which takes
effect at the next restart. An invalid configuration is rejected with its
reasons and the running one stays in effect.`)
	addr := addHTTPFlag(std, fs)
	if code, done := parse(std, fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return fail(std, "reload takes no arguments")
	}
	body, err := newClient(*addr).do(http.MethodPut, "/v1/agent/reload", nil, nil, false)
	if err != nil {
		return fail(std, "reload failed: %v", err)
	}
	var rep struct {
		Applied         []string
		RestartRequired []string
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		return fail(std, "reload: unexpected answer %q: %v", body, err)
	}
	fmt.Fprintln(std.Stdout, "Configuration reload triggered")
	if len(rep.Applied) > 0 {
		fmt.Fprintf(std.Stdout, "Applied: %s\n", strings.Join(rep.Applied, ", "))
	}
	if len(rep.RestartRequired) > 0 {
		fmt.Fprintf(std.Stdout, "Changed but needing a restart: %s\n", strings.Join(rep.RestartRequired, ", "))
	}
	if len(rep.Applied)+len(rep.RestartRequired) == 0 {
		fmt.Fprintln(std.Stdout, "No option changed")
	}
	return 0
}
