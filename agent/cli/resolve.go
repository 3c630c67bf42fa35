package cli

import (
	"flag"
	"fmt"
	"strconv"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/edgeplane/edgeplane/agent/api"
)

type kvResolveCmd struct{ explain, recurse, detailed bool }

func (*kvResolveCmd) spec() spec {
	return spec{args: "KEY", minArgs: 0, maxArgs: 1, agent: true, help: `
Prints the value of KEY resolved through the agent's layers: the first of
node/<node>/KEY, site/<site>/KEY, env/<environment>/KEY and global/KEY that
exists wins (the layers option sets the list). With -recurse, prints
KEY:VALUE for every key under the prefix KEY, each from the layer that wins
it. With -explain, prints every layer's candidate, its value or "-", and
marks the winner with "*". One leading "/" of KEY is ignored.`}
}

func (c *kvResolveCmd) define(fs *flag.FlagSet) {
	fs.BoolVar(&c.explain, "explain", false, "print every layer's candidate and which one wins")
	fs.BoolVar(&c.recurse, "recurse", false, "resolve every key under the prefix")
	fs.BoolVar(&c.detailed, "detailed", false, "print the winning layer, its key, indexes and flags too")
}

func (c *kvResolveCmd) run(e *env) int {
	if len(e.args) == 0 && !c.recurse {
		return fail(e, "kv resolve takes exactly one KEY")
	}
	if c.explain && c.recurse {
		return fail(e, "-explain and -recurse do not go together: explain one key")
	}
	key := trimSlash(e.arg(0))
	kv := e.client.KV()
	switch {
	case c.explain:
		x, err := kv.Explain(e.ctx, key)
		if err != nil {
			return fail(e, "explaining %q: %v", key, err)
		}
		printExplanation(e, x)
		return 0
	case c.recurse:
		ps, err := kv.ResolvePrefix(e.ctx, key)
		if err != nil {
			return fail(e, "resolving %q: %v", key, err)
		}
		for _, p := range ps {
			c.print(e, p)
		}
		return 0
	}
	p, err := kv.Resolve(e.ctx, key)
	if err != nil {
		return fail(e, "resolving %q: %v", key, err)
	}
	if p == nil {
		return fail(e, "No layer holds: %s", key)
	}
	c.print(e, *p)
	return 0
}

func (c *kvResolveCmd) print(e *env, p api.ResolvedPair) {
	if p.LastGood {
		fmt.Fprintf(e.Stderr, "%s: last good value: the stored value breaks its schema (%s)\n", p.LayerKey, p.Rule)
	}
	switch {
	case c.detailed:
		fmt.Fprintf(e.Stdout, "CreateIndex      %d\nFlags            %d\nKey              %s\nLayer            %s\nLayerKey         %s\nModifyIndex      %d\nValue            %s\n",
			p.CreateIndex, p.Flags, p.Key, p.Layer, p.LayerKey, p.ModifyIndex, p.Value)
	case c.recurse:
		fmt.Fprintf(e.Stdout, "%s:%s\n", p.Key, p.Value)
	default:
		fmt.Fprintf(e.Stdout, "%s\n", p.Value)
	}
}

// printExplanation prints one line per layer: a "*" on the winner, the
// layer, its key and its value, "-" when the layer does not hold the key
// and "(denied)" when the token may not read it.
func printExplanation(e *env, x api.Explanation) {
	tw := tabwriter.NewWriter(e.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "\tLAYER\tKEY\tVALUE")
	for _, l := range x.Layers {
		mark, value := " ", "-"
		switch {
		case l.Wins:
			mark = "*"
		case l.Denied:
			value = "(denied)"
		}
		if l.Present {
			value = printable(l.Value)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", mark, l.Layer, l.LayerKey, value)
	}
	tw.Flush()
	if x.Layer == "" {
		fmt.Fprintf(e.Stdout, "No layer holds: %s\n", x.Key)
	}
}

// printable returns v as is when it is one line of printable text, else
// quoted, so that a table row stays one line.
func printable(v []byte) string {
	s := string(v)
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
