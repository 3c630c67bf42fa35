package cli

import (
	"flag"
	"fmt"
	"time"
)

type rpcPingCmd struct{ count int }

func (*rpcPingCmd) spec() spec {
	return spec{args: "NODE", minArgs: 1, maxArgs: 1, agent: true, help: `
Measures the round trip of an RPC from the local agent to another agent
over QUIC, through the same policy (timeout, retries, circuit breaker) as
every internal call.`}
}

func (c *rpcPingCmd) define(fs *flag.FlagSet) {
	fs.IntVar(&c.count, "count", 1, "number of pings")
}

func (c *rpcPingCmd) run(e *env) int {
	if c.count < 1 || c.count > 1000 {
		return fail(e, "-count must be between 1 and 1000")
	}
	for i := range c.count {
		res, err := e.client.Ping(e.ctx, e.arg(0))
		if err != nil {
			return fail(e, "%v", err)
		}
		fmt.Fprintf(e.Stdout, "%s (%s): seq=%d rtt=%v\n", res.Node, res.Addr, i+1, res.Duration().Round(time.Microsecond))
	}
	return 0
}
