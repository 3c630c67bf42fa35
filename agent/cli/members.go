package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/gossip"
)

// memberJSON is a member as members -format json prints it.
type memberJSON struct {
	Name   string
	Addr   string
	Port   uint16
	Tags   map[string]string
	Status int
}

type membersCmd struct{ format, status, site string }

func (*membersCmd) spec() spec {
	return spec{agent: true, help: "Lists the members of the mesh as the local agent sees them."}
}

func (c *membersCmd) define(fs *flag.FlagSet) {
	fs.StringVar(&c.format, "format", "table", "output format: table or json")
	fs.StringVar(&c.status, "status", "", "only members with this status: alive, suspect, leaving, left or failed")
	fs.StringVar(&c.site, "site", "", "only members of this site")
}

func (c *membersCmd) run(e *env) int {
	if c.format != "table" && c.format != "json" {
		return fail(e, "-format must be table or json, not %q", c.format)
	}
	if c.status != "" {
		if _, ok := gossip.ParseStatus(c.status); !ok {
			return fail(e, "-status must be alive, suspect, leaving, left or failed, not %q", c.status)
		}
	}
	all, err := e.client.Members(e.ctx)
	if err != nil {
		return fail(e, "%v", err)
	}
	out := []memberJSON{} // "[]", not "null", when none matches
	for _, m := range all {
		if (c.status == "" || m.Tags["status"] == c.status) && (c.site == "" || m.Tags[gossip.MetaSite] == c.site) {
			out = append(out, memberJSON{Name: m.Name, Addr: m.Addr, Port: m.Port, Tags: m.Tags, Status: m.Status})
		}
	}
	if c.format == "json" {
		b, _ := json.MarshalIndent(out, "", "\t")
		fmt.Fprintf(e.Stdout, "%s\n", b)
		return 0
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Node\tAddress\tStatus\tSite\tBuild")
	for _, m := range out {
		fmt.Fprintf(tw, "%s\t%s:%d\t%s\t%s\t%s\n", m.Name, m.Addr, m.Port, m.Tags["status"],
			m.Tags[gossip.MetaSite], m.Tags[gossip.MetaVersion])
	}
	tw.Flush()
	return 0
}

type joinCmd struct{ noFlags }

func (*joinCmd) spec() spec {
	return spec{args: "ADDRESS...", minArgs: 1, maxArgs: -1, agent: true,
		help: "Tells the local agent to join the mesh through the given addresses (host or host:port)."}
}

func (*joinCmd) run(e *env) int {
	joined := 0
	for _, a := range e.args {
		if err := e.client.Join(e.ctx, a); err != nil {
			fmt.Fprintf(e.Stderr, "Error joining %s: %v\n", a, err)
			continue
		}
		joined++
	}
	if joined == 0 {
		return fail(e, "could not join through any of %s", strings.Join(e.args, ", "))
	}
	fmt.Fprintf(e.Stdout, "Successfully joined the mesh by contacting %d nodes.\n", joined)
	return 0
}

type leaveCmd struct{ noFlags }

func (*leaveCmd) spec() spec {
	return spec{agent: true, help: "Makes the local agent leave the mesh gracefully and shut down."}
}

func (*leaveCmd) run(e *env) int {
	if err := e.client.Leave(e.ctx); err != nil {
		return fail(e, "%v", err)
	}
	fmt.Fprintln(e.Stdout, "Graceful leave complete")
	return 0
}

type forceLeaveCmd struct{ prune bool }

func (*forceLeaveCmd) spec() spec {
	return spec{args: "NODE", minArgs: 1, maxArgs: 1, agent: true, help: `
Marks a failed node as left on every member, so that it is no longer
retried and is forgotten sooner. A node that is alive cannot be forced out.

With -prune it also frees the node's name: without a fleet CA, a name
belongs to the certificate it was first seen with, and a device with
another certificate (a replacement, a reinstalled node) is refused it
until the name is pruned. The node may already be left or forgotten.`}
}

func (c *forceLeaveCmd) define(fs *flag.FlagSet) {
	fs.BoolVar(&c.prune, "prune", false, "also free the node's name for another certificate")
}

func (c *forceLeaveCmd) run(e *env) int {
	force := e.client.ForceLeave
	if c.prune {
		force = e.client.ForceLeavePrune
	}
	if err := force(e.ctx, e.arg(0)); err != nil {
		return fail(e, "%v", err)
	}
	return 0
}

type keygenCmd struct{ noFlags }

func (*keygenCmd) spec() spec {
	return spec{help: "Prints a new random gossip encryption key (32 bytes, base64) for -encrypt."}
}

func (*keygenCmd) run(e *env) int {
	fmt.Fprintln(e.Stdout, gossip.GenerateKey())
	return 0
}

type keyringCmd struct {
	list                 bool
	install, use, remove string
}

func (*keyringCmd) spec() spec {
	return spec{agent: true, help: `
Lists or changes the gossip keys of every live member. Rotate a key with
-install NEW, then -use NEW, then -remove OLD. The key in use cannot be
removed. Each node's answer is printed.`}
}

func (c *keyringCmd) define(fs *flag.FlagSet) {
	fs.BoolVar(&c.list, "list", false, "list the keys installed on each node")
	fs.StringVar(&c.install, "install", "", "install this `key` on every node")
	fs.StringVar(&c.use, "use", "", "make this installed `key` the one used to encrypt")
	fs.StringVar(&c.remove, "remove", "", "remove this `key` from every node")
}

func (c *keyringCmd) run(e *env) int {
	type action struct {
		verb string
		key  string
		call func() (api.KeyringResponse, error)
	}
	var acts []action
	if c.list {
		acts = append(acts, action{"list", "", func() (api.KeyringResponse, error) { return e.client.KeyringList(e.ctx) }})
	}
	for _, a := range []action{
		{"install", c.install, func() (api.KeyringResponse, error) { return e.client.KeyringInstall(e.ctx, c.install) }},
		{"use", c.use, func() (api.KeyringResponse, error) { return e.client.KeyringUse(e.ctx, c.use) }},
		{"remove", c.remove, func() (api.KeyringResponse, error) { return e.client.KeyringRemove(e.ctx, c.remove) }},
	} {
		if a.key != "" {
			acts = append(acts, a)
		}
	}
	if len(acts) != 1 {
		return fail(e, "keyring takes exactly one of -list, -install, -use, -remove")
	}
	resp, err := acts[0].call()
	// An operation that failed on some nodes still lists every answer.
	var se *api.StatusError
	partial := errors.As(err, &se) && se.Code == http.StatusInternalServerError && len(resp.Nodes) > 0
	if err == nil || partial {
		printKeyring(e, resp.Nodes)
	}
	if partial {
		return fail(e, "%s failed on some nodes", acts[0].verb)
	}
	if err != nil {
		return fail(e, "%v", err)
	}
	return 0
}

func printKeyring(e *env, replies []api.KeyringReply) {
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Node\tIn use\tKeys\tResult")
	for _, r := range replies {
		result := "ok"
		if r.Error != "" {
			result = r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Node, r.Primary, strings.Join(r.Keys, ","), result)
	}
	tw.Flush()
}
