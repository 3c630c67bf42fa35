// Package cli is the edgeplane command line: the agent itself and the
// client commands that talk to a running agent's local HTTP API through
// the typed client, package api.
//
// Every command follows the same conventions, kept in one place (execute):
// its flags come before its arguments; -h prints its help once, to
// standard output, and exits 0; a wrong number of arguments, an unknown
// flag or a bad flag value is a usage error, reported on standard error
// with exit 1, as is any failure; commands that talk to an agent take
// -http-addr (default from EDGEPLANE_HTTP_ADDR, then CONSUL_HTTP_ADDR, then
// 127.0.0.1:8500) and say so plainly when no agent answers there; they
// send an API token from -token or -token-file, else the environment
// (EDGEPLANE_HTTP_TOKEN, EDGEPLANE_HTTP_TOKEN_FILE, CONSUL_HTTP_TOKEN,
// CONSUL_HTTP_TOKEN_FILE), as X-Consul-Token.
package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/edgeplane/edgeplane/agent/version"
)

// IO is where a command reads and writes; tests replace it.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv looks up environment variables (os.LookupEnv in the binary).
	Getenv func(string) (string, bool)
	// Context, when set, ends client commands early when it ends, as an
	// interrupt does; nil means never.
	Context context.Context
}

// entry is a command or a group of subcommands in the command tree.
type entry struct {
	name     string // one word, or several for a subcommand such as "ca create"
	synopsis string
	new      func() command // a command; nil for a group
	sub      []entry        // a group's subcommands
}

// commands is the command tree, each level listed in the order help shows.
var commands = []entry{
	{name: "agent", synopsis: "Run an edgeplane agent", new: func() command { return new(agentCmd) }},
	{name: "catalog", synopsis: "Discover the mesh's services", sub: []entry{
		{name: "services", synopsis: "List every service of the catalog with its tags", new: func() command { return new(catalogServicesCmd) }},
		{name: "service", synopsis: "List a service's instances and their health", new: func() command { return new(catalogServiceCmd) }},
	}},
	{name: "check", synopsis: "Report a TTL check's status", sub: []entry{
		{name: "pass", synopsis: "Report a TTL check passing", new: func() command { return &checkCmd{verb: "pass"} }},
		{name: "warn", synopsis: "Report a TTL check warning", new: func() command { return &checkCmd{verb: "warn"} }},
		{name: "fail", synopsis: "Report a TTL check critical", new: func() command { return &checkCmd{verb: "fail"} }},
	}},
	{name: "debug", synopsis: "Collect the local agent's state, logs, metrics and profiles into an archive", new: func() command { return new(debugCmd) }},
	{name: "force-leave", synopsis: "Mark a failed node as left", new: func() command { return new(forceLeaveCmd) }},
	{name: "info", synopsis: "Show the local agent's identity and state", new: func() command { return new(infoCmd) }},
	{name: "join", synopsis: "Join the local agent to the mesh through an address", new: func() command { return new(joinCmd) }},
	{name: "join-token", synopsis: "Print a join token that enrols a new device in the mesh", new: func() command { return new(joinTokenCmd) }},
	{name: "keygen", synopsis: "Print a new gossip encryption key", new: func() command { return new(keygenCmd) }},
	{name: "keyring", synopsis: "List or rotate the gossip keys of the whole mesh", new: func() command { return new(keyringCmd) }},
	{name: "kv", synopsis: "Read and write the key/value store", sub: []entry{
		{name: "put", synopsis: "Write a key", new: func() command { return new(kvPutCmd) }},
		{name: "get", synopsis: "Read a key or a prefix", new: func() command { return new(kvGetCmd) }},
		{name: "resolve", synopsis: "Read a key through the node, site, environment and global layers", new: func() command { return new(kvResolveCmd) }},
		{name: "history", synopsis: "List the versions of a key this node keeps, lost writes marked", new: func() command { return new(kvHistoryCmd) }},
		{name: "rollback", synopsis: "Write an earlier version of a key, or a prefix's state at a time, again", new: func() command { return new(kvRollbackCmd) }},
		{name: "delete", synopsis: "Delete a key or a prefix", new: func() command { return new(kvDeleteCmd) }},
		{name: "list", synopsis: "List the keys under a prefix", new: func() command { return new(kvListCmd) }},
		{name: "export", synopsis: "Export keys under a prefix as JSON", new: func() command { return new(kvExportCmd) }},
		{name: "import", synopsis: "Import keys from JSON written by export", new: func() command { return new(kvImportCmd) }},
		{name: "watch", synopsis: "Print each change under a prefix as it arrives", new: func() command { return new(kvWatchCmd) }},
	}},
	{name: "leave", synopsis: "Leave the mesh gracefully and stop the local agent", new: func() command { return new(leaveCmd) }},
	{name: "maint", synopsis: "Put the node or a service in maintenance mode, or take it out", new: func() command { return new(maintCmd) }},
	{name: "members", synopsis: "List the members of the mesh", new: func() command { return new(membersCmd) }},
	{name: "log-level", synopsis: "Set the local agent's own log level", new: func() command { return new(logLevelCmd) }},
	{name: "monitor", synopsis: "Stream the local agent's log lines", new: func() command { return new(monitorCmd) }},
	{name: "node", synopsis: "Revoke the certificates of lost or stolen nodes", sub: []entry{
		{name: "revoke", synopsis: "Revoke a node's certificate on every node", new: func() command { return new(nodeRevokeCmd) }},
		{name: "revoked", synopsis: "List the revoked certificates", new: func() command { return new(nodeRevokedCmd) }},
	}},
	{name: "render", synopsis: "Show the render blocks' status, or render them now", sub: []entry{
		{name: "status", synopsis: "List the render blocks: health, last render, checksum, waits, errors", new: func() command { return new(renderStatusCmd) }},
		{name: "once", synopsis: "Render every block now, or with -dry print what each would write", new: func() command { return new(renderOnceCmd) }},
	}},
	{name: "reload", synopsis: "Make the local agent re-read its configuration", new: func() command { return new(reloadCmd) }},
	{name: "rpc", synopsis: "Measure the round trip to another agent (rpc ping NODE)", sub: []entry{
		{name: "ping", synopsis: "Measure the round trip of an RPC to NODE", new: func() command { return new(rpcPingCmd) }},
	}},
	{name: "services", synopsis: "Register and list the local agent's services; watch a service", sub: []entry{
		{name: "register", synopsis: "Register a service from a JSON file", new: func() command { return new(servicesRegisterCmd) }},
		{name: "deregister", synopsis: "Deregister a service and its checks", new: func() command { return new(servicesDeregisterCmd) }},
		{name: "list", synopsis: "List the services and the status of their checks", new: func() command { return new(servicesListCmd) }},
		{name: "watch", synopsis: "Print a service's instances across the mesh each time they change", new: func() command { return new(servicesWatchCmd) }},
	}},
	{name: "snapshot", synopsis: "Save or restore a backup of the store", sub: []entry{
		{name: "save", synopsis: "Write a backup of the local agent's whole store to FILE", new: func() command { return new(snapshotSaveCmd) }},
		{name: "restore", synopsis: "Merge a backup into the store by last-writer-wins", new: func() command { return new(snapshotRestoreCmd) }},
	}},
	{name: "store", synopsis: "Maintain the local agent's data file", sub: []entry{
		{name: "compact", synopsis: "Rewrite the data file without its free pages, while the agent runs", new: func() command { return new(storeCompactCmd) }},
	}},
	{name: "tls", synopsis: "Create the fleet CA and node certificates", sub: []entry{
		{name: "ca create", synopsis: "Create the fleet CA: ca.pem and ca-key.pem", new: func() command { return new(tlsCACreateCmd) }},
		{name: "cert create", synopsis: "Issue a node certificate signed by the fleet CA", new: func() command { return new(tlsCertCreateCmd) }},
	}},
	{name: "validate", synopsis: "Check configuration files without starting an agent", new: func() command { return new(validateCmd) }},
	{name: "version", synopsis: "Print the version", new: func() command { return new(versionCmd) }},
}

// Main runs the command line args (without the program name) and returns
// the process exit code: 0 on success (and for -h), 1 on failure or bad
// usage.
func Main(args []string, std IO) int {
	if len(args) == 1 && isVersion(args[0]) {
		fmt.Fprintln(std.Stdout, version.String())
		return 0
	}
	return dispatch(std, nil, commands, args)
}

func isHelp(s string) bool { return s == "-h" || s == "-help" || s == "--help" || s == "help" }

func isVersion(s string) bool { return s == "-v" || s == "-version" || s == "--version" }

// dispatch runs the entry of entries that args start with. path holds the
// words of the group being dispatched (none at the top).
func dispatch(std IO, path []string, entries []entry, args []string) int {
	if len(args) == 0 {
		groupUsage(std.Stderr, path, entries)
		return 1
	}
	if isHelp(args[0]) {
		groupUsage(std.Stdout, path, entries)
		return 0
	}
	for _, e := range entries {
		words := strings.Fields(e.name)
		if len(args) < len(words) || !equalWords(args[:len(words)], words) {
			continue
		}
		name := append(append([]string(nil), path...), words...)
		if e.new == nil {
			return dispatch(std, name, e.sub, args[len(words):])
		}
		return execute(std, strings.Join(name, " "), e.new(), args[len(words):])
	}
	if len(path) == 0 {
		fmt.Fprintf(std.Stderr, "edgeplane: unknown command %q\n\n", args[0])
	} else {
		fmt.Fprintf(std.Stderr, "edgeplane %s: unknown subcommand %q\n\n", strings.Join(path, " "), strings.Join(args, " "))
	}
	groupUsage(std.Stderr, path, entries)
	return 1
}

func equalWords(a, b []string) bool {
	for i := range b {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// groupUsage lists the commands of a group.
func groupUsage(w io.Writer, path []string, entries []entry) {
	what, prefix := "command", "edgeplane"
	if len(path) > 0 {
		what, prefix = "subcommand", "edgeplane "+strings.Join(path, " ")
	}
	width := 0
	for _, e := range entries {
		width = max(width, len(e.name))
	}
	fmt.Fprintf(w, "Usage: %s <%s> [options] [args]\n\n", prefix, what)
	fmt.Fprintf(w, "%ss:\n", strings.ToUpper(what[:1])+what[1:])
	for _, e := range entries {
		fmt.Fprintf(w, "    %-*s  %s\n", width, e.name, e.synopsis)
	}
	fmt.Fprintf(w, "\nRun \"%s <%s> -h\" for a %s's options.\n", prefix, what, what)
}
