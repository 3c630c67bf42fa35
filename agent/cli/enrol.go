package cli

import (
	"flag"
	"fmt"
	"strings"
)

type joinTokenCmd struct{ seeds string }

func (*joinTokenCmd) spec() spec {
	return spec{agent: true, help: `
Prints a join token for a new device: the mesh's gossip key in use and seed
addresses, the local agent's gossip address and up to four alive peers',
in one string. Start the device with it and nothing else:

  edgeplane agent -data-dir /var/lib/edgeplane -join-token-file /etc/edgeplane/join.token

It installs the key in its data dir and joins through the seeds. The token
is a secret (it holds the gossip key): hand it over as one, prefer
join_token_file to -join-token (ps shows flags), and rotate the key with
"edgeplane keyring" when a token leaks. The seeds go to standard error.

A mesh without a gossip key has no token to give: in fleet-CA mode enrol a
device by issuing it a certificate ("edgeplane tls cert create"); in an
unauthenticated mesh set encrypt on every node first.`}
}

func (c *joinTokenCmd) define(fs *flag.FlagSet) {
	fs.StringVar(&c.seeds, "seeds", "", "comma-separated gossip `addresses` (host:port) the token carries instead of the agent's choice")
}

func (c *joinTokenCmd) run(e *env) int {
	var seeds []string
	for s := range strings.SplitSeq(c.seeds, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if c.seeds != "" && len(seeds) == 0 {
		return fail(e, "-seeds names no address")
	}
	tok, err := e.client.JoinToken(e.ctx, seeds...)
	if err != nil {
		return fail(e, "%v", err)
	}
	fmt.Fprintf(e.Stderr, "join token seeds: %s\n", strings.Join(tok.Seeds, ", "))
	fmt.Fprintln(e.Stdout, tok.Token)
	return 0
}
