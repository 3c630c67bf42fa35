package cli

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

type logLevelCmd struct{ noFlags }

func (*logLevelCmd) spec() spec {
	return spec{args: "LEVEL", minArgs: 1, maxArgs: 1, agent: true, help: `
Sets the local agent's own log level (debug, info, warn or error) at once,
until it restarts, or until a reload restores the configured log_level.
To read debug lines without changing what the agent logs, use monitor.`}
}

func (*logLevelCmd) run(e *env) int {
	if err := e.client.SetLogLevel(e.ctx, e.arg(0)); err != nil {
		return fail(e, "%v", err)
	}
	fmt.Fprintf(e.Stdout, "Log level set to %s\n", strings.ToLower(e.arg(0)))
	return 0
}

type monitorCmd struct {
	level string
	json  bool
}

func (*monitorCmd) spec() spec {
	return spec{agent: true, help: `
Streams the local agent's log lines as they are written, at the level
given, whatever the agent's own level: streaming at debug does not make
the agent log more to its journal. Stops on Ctrl-C (exit 0). A reader that
falls behind loses lines and is told how many; the agent never waits for
it.`}
}

func (c *monitorCmd) define(fs *flag.FlagSet) {
	fs.StringVar(&c.level, "log-level", "info", "lowest level streamed: trace, debug, info, warn or err")
	fs.BoolVar(&c.json, "log-json", false, "stream JSON lines")
}

func (c *monitorCmd) run(e *env) int {
	ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := e.client.Monitor(ctx, c.level, c.json, func(line string) { fmt.Fprintln(e.Stdout, line) })
	if err != nil {
		return fail(e, "monitor: %v", err)
	}
	return 0
}
