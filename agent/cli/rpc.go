package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

func runRPC(std IO, args []string) int {
	if len(args) == 0 || args[0] != "ping" {
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprintln(std.Stdout, "Usage: edgeplane rpc ping [options] NODE")
			return 0
		}
		return fail(std, "usage: edgeplane rpc ping [options] NODE")
	}
	fs := newFlagSet(std, "rpc ping", "NODE", `
Measures the round trip of an RPC from the local agent to another agent
over QUIC, through the same policy (timeout, retries, circuit breaker) as
every internal call.`)
	addr := addHTTPFlag(std, fs)
	count := fs.Int("count", 1, "number of pings")
	if code, done := parse(std, fs, args[1:]); done {
		return code
	}
	if fs.NArg() != 1 {
		return fail(std, "rpc ping takes exactly one NODE")
	}
	if *count < 1 || *count > 1000 {
		return fail(std, "-count must be between 1 and 1000")
	}
	c := newClient(*addr)
	node := fs.Arg(0)
	for i := range *count {
		data, err := c.do("GET", "/v1/edgeplane/rpc/ping/"+url.PathEscape(node), nil, nil, false)
		if err != nil {
			return fail(std, "%v", err)
		}
		var res struct {
			Node, Addr string
			RTTNanos   int64
		}
		if err := json.Unmarshal(data, &res); err != nil {
			return fail(std, "malformed answer: %v", err)
		}
		fmt.Fprintf(std.Stdout, "%s (%s): seq=%d rtt=%v\n", res.Node, res.Addr, i+1, time.Duration(res.RTTNanos).Round(time.Microsecond))
	}
	return 0
}
