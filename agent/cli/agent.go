package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/edgeplane/edgeplane/agent"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/logstream"
	"github.com/edgeplane/edgeplane/agent/version"
	"github.com/edgeplane/edgeplane/transport"
)

const agentHelp = `
Runs an edgeplane agent: it opens the store in the data directory and serves
the local HTTP API. Options come from configuration files, then EDGEPLANE_*
environment variables, then flags; each later source wins.

  edgeplane agent -dev                         a throwaway single node
  edgeplane agent -config-dir /etc/edgeplane   a production node

SIGINT or SIGTERM shuts the agent down cleanly; a second one forces it out.
SIGHUP re-reads the configuration, as "edgeplane reload" does. Under systemd
(Type=notify) the agent reports readiness, reloads and shutdown, and pings
the watchdog while its store and HTTP API answer.`

type agentCmd struct{ loader *config.Loader }

func (*agentCmd) spec() spec { return spec{help: agentHelp} }

func (c *agentCmd) define(fs *flag.FlagSet) { c.loader = config.NewLoader(fs) }

func (c *agentCmd) run(e *env) int {
	std, loader := e.IO, c.loader
	cfg, err := loader.Load(std.Getenv)
	if err != nil {
		return fail(e, "invalid configuration:\n%v", err)
	}
	level := new(slog.LevelVar) // a reload sets it
	level.Set(cfg.SlogLevel())
	log := newLogger(std, cfg, level)
	a, err := agent.New(cfg, log)
	if err != nil {
		log.Error("agent failed to start", "err", err)
		return 1
	}
	defer superviseAgent(std, a, loader, level, log)() // systemd, SIGHUP

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case s := <-sigs:
			log.Info("caught signal, shutting down; send it again to force exit", "signal", s.String())
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-sigs:
			log.Error("caught second signal, exiting at once", "signal", s.String())
			os.Exit(1)
		case <-done:
		}
	}()
	if err := a.Run(ctx); err != nil {
		log.Error("agent stopped with an error", "err", err)
		return 1
	}
	return 0
}

// newLogger writes the agent's log to stderr at level, through a
// logstream.Hub that also serves it to `edgeplane monitor` at any level.
// A line logged with the context of a traced call (an RPC, or an HTTP
// request with a traceparent header) carries its trace_id in both.
func newLogger(std IO, cfg config.Config, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(std.Stderr, opts)
	if cfg.LogJSON {
		h = slog.NewJSONHandler(std.Stderr, opts)
	}
	return slog.New(transport.TraceLog(logstream.New(h)))
}

type validateCmd struct{ files, dirs multiFlag }

func (*validateCmd) spec() spec {
	return spec{args: "[FILE...]", maxArgs: -1, help: `
Checks configuration files as "edgeplane agent" would read them, without
starting an agent. Exits 0 when the configuration is valid.`}
}

func (c *validateCmd) define(fs *flag.FlagSet) {
	fs.Var(&c.files, "config-file", "a YAML configuration `file`; repeatable")
	fs.Var(&c.dirs, "config-dir", "a `directory` of *.yaml and *.yml files; repeatable")
}

func (c *validateCmd) run(e *env) int {
	files := append(c.files, e.args...) // consul validate takes paths as arguments
	if len(files)+len(c.dirs) == 0 {
		return fail(e, "validate needs -config-file or -config-dir")
	}
	if _, err := config.LoadFiles(files, c.dirs); err != nil {
		return fail(e, "invalid configuration:\n%v", err)
	}
	fmt.Fprintln(e.Stdout, "Configuration is valid!")
	return 0
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type versionCmd struct{ noFlags }

func (*versionCmd) spec() spec { return spec{help: "Prints the version, commit and build date."} }

func (*versionCmd) run(e *env) int {
	fmt.Fprintln(e.Stdout, version.String())
	return 0
}

type infoCmd struct{ noFlags }

func (*infoCmd) spec() spec {
	return spec{agent: true, help: "Shows the local agent's identity, configuration and state."}
}

func (*infoCmd) run(e *env) int {
	self, err := e.client.Self(e.ctx)
	if err != nil {
		return fail(e, "%v", err)
	}
	c := self.Config
	w := e.Stdout
	fmt.Fprintln(w, "node:")
	for _, kv := range [][2]string{{"NodeName", c.NodeName}, {"NodeID", c.NodeID}, {"Datacenter", c.Datacenter},
		{"Site", c.Site}, {"Version", c.Version}, {"Revision", c.Revision}} {
		fmt.Fprintf(w, "\t%s = %s\n", kv[0], kv[1])
	}
	fmt.Fprintf(w, "\tGossip = %s:%d\n", self.Member.Addr, self.Member.Port)
	for _, section := range sortedKeys(self.Stats) {
		fmt.Fprintf(w, "%s:\n", section)
		for _, k := range sortedKeys(self.Stats[section]) {
			fmt.Fprintf(w, "\t%s = %s\n", k, self.Stats[section][k])
		}
	}
	// An agent without the replication endpoint has none of this to show.
	repl, err := e.client.Replication(e.ctx)
	if err != nil {
		return 0
	}
	if repl.Bootstrap.Running {
		fmt.Fprintf(w, "bootstrap running: streaming from %s, %d records so far\n", repl.Bootstrap.Peer, repl.Bootstrap.Records)
	}
	if len(repl.Peers) > 0 {
		fmt.Fprintln(w, "replication peers:")
		for _, p := range repl.Peers {
			fmt.Fprintf(w, "\t%s (%s): last sync %s, %s; digest root %s; sent %d B, received %d B; breaker %s\n",
				p.Node, p.Addr, p.LastSync.Format(time.RFC3339), p.LastResult, p.DigestRoot, p.BytesSent, p.BytesReceived, p.Breaker)
		}
	}
	if len(repl.Quarantine) > 0 {
		fmt.Fprintln(w, "quarantined records (keys not valid UTF-8; kept in the data file, never served or replicated):")
		for _, q := range repl.Quarantine {
			what := fmt.Sprintf("%d bytes, flags %d", len(q.Value), q.Flags)
			if q.Deleted {
				what = "deleted"
			}
			fmt.Fprintf(w, "\t%s: %s; written %s by %s\n", q.Key, what, q.Version, q.Origin)
		}
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
