package cli

import (
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/edgeplane/edgeplane/agent/api"
)

type kvHistoryCmd struct {
	prefix, lost bool
	since        string
	limit        int
}

func (*kvHistoryCmd) spec() spec {
	return spec{args: "KEY", maxArgs: 1, agent: true, help: `
Lists the versions of KEY this node keeps in its history, newest first: the
version (what kv rollback takes), its stamp, the node that wrote it (by name
when it is a member), what happened to it and its value. "lost" marks a
write that last-writer-wins discarded for a concurrent one, such as the
other side of a partition: kv rollback brings it back. "not held" marks a
lost write that reached this node after the one that beat it; "deleted" a
delete; "rollback of V" a rollback made on this node. With -prefix, lists
the keys under the prefix KEY. The node keeps history_versions versions of
each key (default 10) and history_max_bytes in all (default 16MiB).`}
}

func (c *kvHistoryCmd) define(fs *flag.FlagSet) {
	fs.BoolVar(&c.prefix, "prefix", false, "list every key under the prefix KEY")
	fs.BoolVar(&c.lost, "lost", false, "list only the writes last-writer-wins discarded")
	fs.StringVar(&c.since, "since", "", "only versions written at or after this `time`: RFC 3339, a version, or a duration ago such as 1h")
	fs.IntVar(&c.limit, "limit", 0, "list at most this many `versions`, the newest (default: the agent's, 1000)")
}

func (c *kvHistoryCmd) run(e *env) int {
	if len(e.args) == 0 && !c.prefix {
		return fail(e, "kv history takes exactly one KEY")
	}
	key := trimSlash(e.arg(0))
	vs, err := e.client.KV().History(e.ctx, key, api.HistoryOptions{Prefix: c.prefix, Since: c.since, Lost: c.lost, Limit: c.limit})
	if err != nil {
		return fail(e, "reading the history of %q: %v", key, err)
	}
	if len(vs) == 0 {
		fmt.Fprintf(e.Stdout, "No history of: %s\n", key)
		return 0
	}
	names := nodeNames(e)
	tw := tabwriter.NewWriter(e.Stdout, 0, 8, 2, ' ', 0)
	head := "VERSION\tSTAMP\tORIGIN\tSTATE\tVALUE"
	if c.prefix {
		head = "KEY\t" + head
	}
	fmt.Fprintln(tw, head)
	for _, v := range vs {
		origin := v.Origin
		if n, ok := names[origin]; ok {
			origin = n
		}
		value := printable(v.Value)
		if v.Deleted {
			value = "-"
		}
		row := fmt.Sprintf("%d\t%s\t%s\t%s\t%s", v.Version, v.Stamp, origin, versionState(v), value)
		if c.prefix {
			row = v.Key + "\t" + row
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()
	return 0
}

// versionState lists a version's marks, "-" for none.
func versionState(v api.HistoryVersion) string {
	var s []string
	if v.Lost {
		s = append(s, "lost")
	}
	if !v.Held {
		s = append(s, "not held")
	}
	if v.Deleted {
		s = append(s, "deleted")
	}
	if v.RollbackOf != 0 {
		s = append(s, fmt.Sprintf("rollback of %d", v.RollbackOf))
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}

// nodeNames maps the node ids of the members to their names; empty when
// the agent will not list its members (ACLs).
func nodeNames(e *env) map[string]string {
	out := map[string]string{}
	ms, err := e.client.Members(e.ctx)
	if err != nil {
		return out
	}
	for _, m := range ms {
		if id := m.Tags["id"]; id != "" {
			out[id] = m.Name
		}
	}
	return out
}

type kvRollbackCmd struct {
	prefix, yes, dry bool
	to, origin       string
}

func (*kvRollbackCmd) spec() spec {
	return spec{args: "KEY", maxArgs: 1, agent: true, help: `
Writes an earlier version of KEY again, as a new write: it gets a new stamp,
replicates and wins like any write, and the history shows it as a rollback
of that version. -to takes a VERSION from kv history (the number, or the
stamp as printed); -origin picks among versions of several nodes with one
stamp.

With -prefix, restores every key under the prefix KEY to its state at the
time -to (RFC 3339, a version, or a duration ago such as 30m) as this node
saw it: keys written since are put back, keys created since are deleted.
It prints what it will change and changes it only with -yes; -dry only
prints. Keys whose state at that time the history no longer tells are
listed and left alone.

A value that breaks the schema now in force is refused, and the rollback
with it. Needs key write on the key, or on every key under the prefix.`}
}

func (c *kvRollbackCmd) define(fs *flag.FlagSet) {
	fs.StringVar(&c.to, "to", "", "the `version` to restore (with -prefix: the time)")
	fs.StringVar(&c.origin, "origin", "", "the node `id` that wrote the version, when several wrote one stamp")
	fs.BoolVar(&c.prefix, "prefix", false, "restore every key under the prefix KEY to its state at the time -to")
	fs.BoolVar(&c.yes, "yes", false, "with -prefix: make the changes printed")
	fs.BoolVar(&c.dry, "dry", false, "print what would change and change nothing")
}

func (c *kvRollbackCmd) run(e *env) int {
	if len(e.args) == 0 && !c.prefix {
		return fail(e, "kv rollback takes exactly one KEY")
	}
	if c.to == "" {
		return fail(e, "kv rollback needs -to: a version from kv history (with -prefix: a time)")
	}
	if c.yes && c.dry {
		return fail(e, "-yes and -dry do not go together")
	}
	key := trimSlash(e.arg(0))
	req := api.RollbackRequest{Key: key, Prefix: c.prefix, To: c.to, Origin: c.origin,
		// A prefix is planned first, printed, and written only with -yes.
		Dry: c.dry || c.prefix && !c.yes}
	res, err := e.client.KV().Rollback(e.ctx, req)
	if err != nil {
		return fail(e, "rolling back %q: %v", key, err)
	}
	printRollback(e, res)
	switch {
	case res.Applied:
		fmt.Fprintf(e.Stdout, "Success! Rolled back %d key(s)\n", len(res.Changes))
	case len(res.Changes) == 0:
		fmt.Fprintln(e.Stdout, "Nothing to change")
	case !c.dry:
		fmt.Fprintln(e.Stdout, "Nothing changed: run again with -yes to make these changes")
	}
	return 0
}

// printRollback prints one line per change: the key, what it holds and
// what it will hold.
func printRollback(e *env, res api.RollbackResult) {
	for _, ch := range res.Changes {
		from := "(none)"
		switch {
		case ch.From != 0 && ch.FromDeleted:
			from = "(deleted)"
		case ch.From != 0:
			from = printable(ch.FromValue)
		}
		if ch.Delete {
			fmt.Fprintf(e.Stdout, "delete %s (was %s)\n", ch.Key, from)
			continue
		}
		fmt.Fprintf(e.Stdout, "put    %s = %s (was %s; version %d)\n", ch.Key, printable(ch.Value), from, ch.To)
	}
	for _, k := range res.Unknown {
		fmt.Fprintf(e.Stdout, "skip   %s: the history does not reach back to that time\n", k)
	}
}
