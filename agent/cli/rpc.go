package cli

import (
	"flag"
	"fmt"
	"time"
)

type nodeRevokeCmd struct{ noFlags }

func (*nodeRevokeCmd) spec() spec {
	return spec{args: "NODE|FINGERPRINT", minArgs: 1, maxArgs: 1, agent: true, help: `
Revokes a node's certificate on every node of the fleet: each refuses it
at the handshake and closes the connections it has with it, so a lost or
stolen device can no longer gossip, call or write. Name a member (its
announced certificate is revoked) or give a certificate's SHA-256
fingerprint in hex (edgeplane members -format json shows them, as the tag fp). The
revocation spreads as a write does; nodes offline now get it when they
return. It cannot be undone: enrol the device again with a new
certificate.`}
}

func (*nodeRevokeCmd) run(e *env) int {
	rv, err := e.client.Revoke(e.ctx, e.arg(0))
	if err != nil {
		return fail(e, "%v", err)
	}
	fmt.Fprintf(e.Stdout, "Revoked certificate %s%s\n", rv.Fingerprint, nodeSuffix(rv.Node))
	return 0
}

type nodeRevokedCmd struct{ noFlags }

func (*nodeRevokedCmd) spec() spec {
	return spec{agent: true, help: "Lists the revoked certificates, by fingerprint."}
}

func (*nodeRevokedCmd) run(e *env) int {
	list, err := e.client.Revoked(e.ctx)
	if err != nil {
		return fail(e, "%v", err)
	}
	for _, rv := range list {
		fmt.Fprintf(e.Stdout, "%s%s\n", rv.Fingerprint, nodeSuffix(rv.Node))
	}
	return 0
}

func nodeSuffix(node string) string {
	if node == "" {
		return ""
	}
	return " (node " + node + ")"
}

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
