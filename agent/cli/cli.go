// Package cli is the edgeplane command line: the agent itself and the
// client commands that talk to a running agent's local HTTP API.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// IO is where a command reads and writes; tests replace it.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv looks up environment variables (os.LookupEnv in the binary).
	Getenv func(string) (string, bool)
}

type command struct {
	synopsis string
	run      func(std IO, args []string) int
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"agent":       {"Run an edgeplane agent", runAgent},
		"kv":          {"Read and write the key/value store", runKV},
		"info":        {"Show the local agent's identity and state", runInfo},
		"validate":    {"Check configuration files without starting an agent", runValidate},
		"version":     {"Print the version", runVersion},
		"members":     {"List the members of the mesh", runMembers},
		"join":        {"Join the local agent to the mesh through an address", runJoin},
		"leave":       {"Leave the mesh gracefully and stop the local agent", runLeave},
		"force-leave": {"Mark a failed node as left", runForceLeave},
		"keygen":      {"Print a new gossip encryption key", runKeygen},
		"keyring":     {"List or rotate the gossip keys of the whole mesh", runKeyring},
		"rpc":         {"Measure the round trip to another agent (rpc ping NODE)", runRPC},
		"tls":         {"Create the fleet CA and node certificates", runTLS},
		"snapshot":    {"Save or restore a backup of the store", runSnapshot},
		"reload":      {"Make the local agent re-read its configuration", runReload},
	}
}

// Main runs the command line args (without the program name) and returns
// the process exit code: 0 on success, 1 on failure or bad usage.
func Main(args []string, std IO) int {
	if len(args) == 0 || isHelp(args[0]) {
		usage(std.Stdout)
		return boolCode(len(args) > 0)
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(std.Stderr, "edgeplane: unknown command %q\n\n", args[0])
		usage(std.Stderr)
		return 1
	}
	return cmd.run(std, args[1:])
}

func isHelp(s string) bool { return s == "-h" || s == "-help" || s == "--help" || s == "help" }

// boolCode is 0 for true, 1 for false.
func boolCode(ok bool) int {
	if ok {
		return 0
	}
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: edgeplane <command> [options] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "    %-12s %s\n", n, commands[n].synopsis)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "edgeplane <command> -h" for a command's options.`)
}

// newFlagSet returns a flag set whose -h prints the command's usage line,
// help text and options to stdout.
func newFlagSet(std IO, name, args, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(std.Stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: edgeplane %s [options] %s\n\n%s\n", name, args, strings.TrimSpace(help))
		if hasFlags(fs) {
			fmt.Fprintln(w, "\nOptions:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parse parses args; it returns done=true with the exit code when the
// command should stop (help asked for, or bad usage).
func parse(std IO, fs *flag.FlagSet, args []string) (code int, done bool) {
	fs.SetOutput(std.Stderr)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(std.Stdout)
		fs.Usage()
		return 0, true
	}
	if err != nil {
		return 1, true
	}
	return 0, false
}

// fail prints an error the way every command does and returns 1.
func fail(std IO, format string, args ...any) int {
	fmt.Fprintf(std.Stderr, "Error! "+format+"\n", args...)
	return 1
}
