package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/edgeplane/edgeplane/gossip"
)

type member struct {
	Name   string
	Addr   string
	Port   uint16
	Tags   map[string]string
	Status int
}

func runMembers(std IO, args []string) int {
	fs := newFlagSet(std, "members", "", "Lists the members of the mesh as the local agent sees them.")
	addr := addHTTPFlag(std, fs)
	format := fs.String("format", "table", "output format: table or json")
	status := fs.String("status", "", "only members with this status: alive, suspect, leaving, left or failed")
	site := fs.String("site", "", "only members of this site")
	if code, done := parse(std, fs, args); done {
		return code
	}
	if *format != "table" && *format != "json" {
		return fail(std, "-format must be table or json, not %q", *format)
	}
	if *status != "" {
		if _, ok := gossip.ParseStatus(*status); !ok {
			return fail(std, "-status must be alive, suspect, leaving, left or failed, not %q", *status)
		}
	}
	var all []member
	if _, err := newClient(*addr).getJSON("/v1/agent/members", nil, &all); err != nil {
		return fail(std, "%v", err)
	}
	var out []member
	for _, m := range all {
		if (*status == "" || m.Tags["status"] == *status) && (*site == "" || m.Tags[gossip.MetaSite] == *site) {
			out = append(out, m)
		}
	}
	if *format == "json" {
		b, _ := json.MarshalIndent(out, "", "\t")
		fmt.Fprintf(std.Stdout, "%s\n", b)
		return 0
	}
	tw := tabwriter.NewWriter(std.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Node\tAddress\tStatus\tSite\tBuild")
	for _, m := range out {
		fmt.Fprintf(tw, "%s\t%s:%d\t%s\t%s\t%s\n", m.Name, m.Addr, m.Port, m.Tags["status"],
			m.Tags[gossip.MetaSite], m.Tags[gossip.MetaVersion])
	}
	tw.Flush()
	return 0
}

func runJoin(std IO, args []string) int {
	fs := newFlagSet(std, "join", "ADDRESS...", "Tells the local agent to join the mesh through the given addresses (host or host:port).")
	addr := addHTTPFlag(std, fs)
	if code, done := parse(std, fs, args); done {
		return code
	}
	if fs.NArg() == 0 {
		return fail(std, "join needs at least one address")
	}
	c := newClient(*addr)
	joined := 0
	for _, a := range fs.Args() {
		if _, err := c.do(http.MethodPut, "/v1/agent/join/"+url.PathEscape(a), nil, nil, false); err != nil {
			fmt.Fprintf(std.Stderr, "Error joining %s: %v\n", a, err)
			continue
		}
		joined++
	}
	if joined == 0 {
		return fail(std, "could not join through any of %s", strings.Join(fs.Args(), ", "))
	}
	fmt.Fprintf(std.Stdout, "Successfully joined the mesh by contacting %d nodes.\n", joined)
	return 0
}

func runLeave(std IO, args []string) int {
	fs := newFlagSet(std, "leave", "", "Makes the local agent leave the mesh gracefully and shut down.")
	addr := addHTTPFlag(std, fs)
	if code, done := parse(std, fs, args); done {
		return code
	}
	if _, err := newClient(*addr).do(http.MethodPut, "/v1/agent/leave", nil, nil, false); err != nil {
		return fail(std, "%v", err)
	}
	fmt.Fprintln(std.Stdout, "Graceful leave complete")
	return 0
}

func runForceLeave(std IO, args []string) int {
	fs := newFlagSet(std, "force-leave", "NODE", `
Marks a failed node as left on every member, so that it is no longer
retried and is forgotten sooner. A node that is alive cannot be forced out.`)
	addr := addHTTPFlag(std, fs)
	if code, done := parse(std, fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		return fail(std, "force-leave takes exactly one NODE")
	}
	if _, err := newClient(*addr).do(http.MethodPut, "/v1/agent/force-leave/"+url.PathEscape(fs.Arg(0)), nil, nil, false); err != nil {
		return fail(std, "%v", err)
	}
	return 0
}

func runKeygen(std IO, args []string) int {
	fs := newFlagSet(std, "keygen", "", "Prints a new random gossip encryption key (32 bytes, base64) for -encrypt.")
	if code, done := parse(std, fs, args); done {
		return code
	}
	fmt.Fprintln(std.Stdout, gossip.GenerateKey())
	return 0
}

func runKeyring(std IO, args []string) int {
	fs := newFlagSet(std, "keyring", "", `
Lists or changes the gossip keys of every live member. Rotate a key with
-install NEW, then -use NEW, then -remove OLD. The key in use cannot be
removed. Each node's answer is printed.`)
	addr := addHTTPFlag(std, fs)
	list := fs.Bool("list", false, "list the keys installed on each node")
	install := fs.String("install", "", "install this `key` on every node")
	use := fs.String("use", "", "make this installed `key` the one used to encrypt")
	remove := fs.String("remove", "", "remove this `key` from every node")
	if code, done := parse(std, fs, args); done {
		return code
	}
	type action struct {
		method, key, verb string
	}
	var acts []action
	if *list {
		acts = append(acts, action{http.MethodGet, "", "list"})
	}
	for _, a := range []action{{http.MethodPost, *install, "install"}, {http.MethodPut, *use, "use"}, {http.MethodDelete, *remove, "remove"}} {
		if a.key != "" {
			acts = append(acts, a)
		}
	}
	if len(acts) != 1 {
		return fail(std, "keyring takes exactly one of -list, -install, -use, -remove")
	}
	act := acts[0]
	var body []byte
	if act.key != "" {
		body, _ = json.Marshal(map[string]string{"Key": act.key})
	}
	data, err := newClient(*addr).do(act.method, "/v1/operator/keyring", nil, body, false)
	var resp []struct {
		Nodes []gossip.KeyringReply
	}
	if apiErr, ok := err.(*apiError); ok && apiErr.status == http.StatusInternalServerError && json.Unmarshal([]byte(apiErr.msg), &resp) == nil {
		err = fmt.Errorf("%s failed on some nodes", act.verb)
	} else if err == nil {
		err = json.Unmarshal(data, &resp)
	}
	if len(resp) == 1 {
		printKeyring(std, resp[0].Nodes)
	}
	if err != nil {
		return fail(std, "%v", err)
	}
	return 0
}

func printKeyring(std IO, replies []gossip.KeyringReply) {
	tw := tabwriter.NewWriter(std.Stdout, 0, 0, 2, ' ', 0)
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
