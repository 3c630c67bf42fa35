package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"strconv"

	"github.com/edgeplane/edgeplane/agent/api"
)

type servicesWatchCmd struct {
	serviceFilter
	watchFlags
}

func (*servicesWatchCmd) spec() spec {
	return spec{args: "NAME", minArgs: 1, maxArgs: 1, agent: true, timeout: unbounded, help: `
Watches the instances of the service NAME across the mesh and prints them
at once, then again each time they change, until interrupted (SIGINT or
SIGTERM: exit 0): -passing keeps those whose every check passes, -tag
(repeatable) those with all the tags given, -site those on the nodes of
that site. Each answer prints the table of catalog service, the later
ones after an empty line; an answer that would print the same as the last
one (a change the table does not show) is not printed.

With -format=json each answer is one line, a JSON array of the instances
as /v1/health/service returns them (Node, Service, Checks).

Answers come from blocking queries on the local agent: a change of an
instance, of one of its checks or of its node's membership, made on any
node once the agent has it. Several changes in quick succession may come
as one answer. When the agent cannot be reached the request is retried
with backoff (each pause between half and all of a step that starts at
1 s and doubles up to 30 s); after -max-errors failures in a row the
command gives up (exit 1).`}
}

func (c *servicesWatchCmd) define(fs *flag.FlagSet) {
	c.serviceFilter.define(fs)
	c.watchFlags.define(fs)
}

func (c *servicesWatchCmd) run(e *env) int {
	ctx, stop, code := c.start(e)
	defer stop()
	if code != 0 {
		return code
	}
	name := e.arg(0)
	what := "service " + strconv.Quote(name)
	var last []byte // what the last answer printed; nil before the first
	for list, err := range e.client.HealthServiceWatch(ctx, name, c.query(), c.options()) {
		if err != nil {
			if code, ok := c.failed(e, what, err); !ok {
				return code
			}
			continue
		}
		out := c.render(list.Entries)
		if bytes.Equal(out, last) {
			continue
		}
		b := out
		if c.format == "text" && last != nil {
			b = append([]byte("\n"), out...) // tables apart
		}
		if _, err := e.Stdout.Write(b); err != nil {
			return fail(e, "writing output: %v", err)
		}
		last = out
	}
	return 0 // interrupted
}

// render is what an answer prints: the table of catalog service, or one
// line of JSON.
func (c *servicesWatchCmd) render(entries []api.ServiceEntry) []byte {
	var buf bytes.Buffer
	if c.format == "json" {
		if entries == nil {
			entries = []api.ServiceEntry{}
		}
		b, err := json.Marshal(entries)
		if err != nil {
			panic(err) // the client decoded them from JSON
		}
		buf.Write(b)
		buf.WriteByte('\n')
		return buf.Bytes()
	}
	writeServiceEntries(&buf, entries)
	return buf.Bytes()
}
