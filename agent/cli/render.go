package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

type renderStatusCmd struct{ format string }

func (*renderStatusCmd) spec() spec {
	return spec{agent: true, help: `
Lists the local agent's render blocks: each block's health (its check
edgeplane:render:NAME), when it last rendered, the checksum of what it
wrote, what it waits for (a key, the first sync), its last error and when
it last rolled back.`}
}

func (c *renderStatusCmd) define(fs *flag.FlagSet) {
	fs.StringVar(&c.format, "format", "table", "output format: table or json")
}

func (c *renderStatusCmd) run(e *env) int {
	if c.format != "table" && c.format != "json" {
		return fail(e, "-format must be table or json, not %q", c.format)
	}
	st, err := e.client.RenderStatus(e.ctx)
	if err != nil {
		return fail(e, "%v", err)
	}
	if c.format == "json" {
		b, _ := json.MarshalIndent(st, "", "\t")
		fmt.Fprintf(e.Stdout, "%s\n", b)
		return 0
	}
	if len(st) == 0 {
		fmt.Fprintln(e.Stdout, "No render blocks.")
		return 0
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Name\tHealth\tDestination\tLast render\tChecksum\tReplica synced\tWaiting for\tLast error\tLast rollback")
	for _, s := range st {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Health, s.Destination, when(s.LastRender),
			short(s.Checksum), when(s.ReplicaSynced), dash(strings.Join(s.WaitingFor, ", ")), dash(oneLine(s.LastError)), when(s.LastRollback))
	}
	tw.Flush()
	return 0
}

type renderOnceCmd struct{ dry bool }

func (*renderOnceCmd) spec() spec {
	return spec{agent: true, help: `
Renders every render block of the local agent now, as a change would:
each is checked, applied and reloaded as configured; a render identical to
the destination writes nothing. With -dry nothing is written or run: each
block's render is printed instead, after a header line. The exit status is
1 when a block failed or waits.`}
}

func (c *renderOnceCmd) define(fs *flag.FlagSet) {
	fs.BoolVar(&c.dry, "dry", false, "print what each block would write; write and run nothing")
}

func (c *renderOnceCmd) run(e *env) int {
	res, err := e.client.RenderOnce(e.ctx, c.dry)
	if err != nil {
		return fail(e, "%v", err)
	}
	code := 0
	for _, r := range res {
		if c.dry {
			if r.LastError != "" && r.Content == nil {
				fmt.Fprintf(e.Stderr, "%s: %s\n", r.Name, oneLine(r.LastError))
				code = 1
				continue
			}
			fmt.Fprintf(e.Stdout, "> %s (%s, %d bytes, sha256 %s)\n%s", r.Name, r.Destination, len(r.Content), short(r.Checksum), r.Content)
			if len(r.Content) > 0 && r.Content[len(r.Content)-1] != '\n' {
				fmt.Fprintln(e.Stdout)
			}
			continue
		}
		fmt.Fprintf(e.Stdout, "%s: %s: %s\n", r.Name, r.Health, oneLine(r.Output))
		if r.Health != "passing" {
			code = 1
		}
	}
	return code
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return dash(sum)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
