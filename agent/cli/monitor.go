package cli

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

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
