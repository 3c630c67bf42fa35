package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
)

// command is one edgeplane command. execute parses its flags and checks
// its arguments against its spec, then runs it.
type command interface {
	spec() spec
	// define registers the command's own flags on fs.
	define(fs *flag.FlagSet)
	// run runs the parsed command and returns its exit code.
	run(e *env) int
}

// spec is what execute needs to know of a command.
type spec struct {
	args string // the positional arguments, as usage shows them
	help string
	// minArgs and maxArgs bound the number of positional arguments;
	// maxArgs < 0 means no bound.
	minArgs, maxArgs int
	// agent: the command talks to an agent. It takes -http-addr and runs
	// with a client.
	agent bool
	// timeout bounds each request to the agent: 0 means requestTimeout,
	// unbounded none (the command bounds its requests itself).
	timeout time.Duration
}

// Timeouts of requests to the agent.
const (
	requestTimeout = 2 * time.Minute
	unbounded      = time.Duration(-1)
)

// noFlags is embedded by commands that have no flags of their own.
type noFlags struct{}

func (noFlags) define(*flag.FlagSet) {}

// env is what a command runs with.
type env struct {
	IO
	ctx    context.Context
	name   string   // e.g. "kv put"
	args   []string // positional arguments
	client *api.Client
}

// arg returns the i-th positional argument, or "".
func (e *env) arg(i int) string {
	if i < len(e.args) {
		return e.args[i]
	}
	return ""
}

// execute is the one parse step of every command: flags, -h, the number
// of arguments, the agent's address; then it runs cmd.
func execute(std IO, name string, cmd command, args []string) int {
	s := cmd.spec()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(std.Stderr)
	fs.Usage = func() {} // printed below, once, where it belongs
	var (
		addr *string
		tok  *tokenFlags
	)
	if s.agent {
		addr, tok = addressFlag(std, fs), defineTokenFlags(fs)
	}
	cmd.define(fs)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		usage(std.Stdout, name, s, fs)
		return 0
	}
	if err != nil { // the flag package printed what was wrong
		usage(std.Stderr, name, s, fs)
		return 1
	}
	e := &env{IO: std, ctx: std.Context, name: name, args: fs.Args()}
	if e.ctx == nil {
		e.ctx = context.Background()
	}
	if n := len(e.args); n < s.minArgs || (s.maxArgs >= 0 && n > s.maxArgs) {
		if s.maxArgs == 0 {
			return fail(e, "%s takes no arguments, got %q", name, strings.Join(e.args, " "))
		}
		return fail(e, "%s takes %s, got %d arguments", name, s.args, n)
	}
	if s.agent {
		hc := &http.Client{}
		switch s.timeout {
		case 0:
			hc.Timeout = requestTimeout
		case unbounded:
		default:
			hc.Timeout = s.timeout
		}
		token, err := tok.secret(std.Getenv)
		if err != nil {
			return fail(e, "%v", err)
		}
		if e.client, err = api.NewClient(api.Config{Address: *addr, HTTPClient: hc, Token: token}); err != nil {
			return fail(e, "-http-addr: %v", err)
		}
	}
	return cmd.run(e)
}

// usage prints a command's usage line, help text and options.
func usage(w io.Writer, name string, s spec, fs *flag.FlagSet) {
	line := strings.TrimSpace(fmt.Sprintf("Usage: edgeplane %s [options] %s", name, s.args))
	fmt.Fprintf(w, "%s\n\n%s\n", line, strings.TrimSpace(s.help))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nOptions:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// addressFlag registers -http-addr; its default comes from
// EDGEPLANE_HTTP_ADDR, then CONSUL_HTTP_ADDR, then api.DefaultAddress.
func addressFlag(std IO, fs *flag.FlagSet) *string {
	def := api.DefaultAddress
	for _, env := range []string{"CONSUL_HTTP_ADDR", "EDGEPLANE_HTTP_ADDR"} {
		if v, ok := std.Getenv(env); ok && v != "" {
			def = v
		}
	}
	return fs.String("http-addr", def,
		"address of the agent's HTTP API, host:port or a URL (env EDGEPLANE_HTTP_ADDR, then CONSUL_HTTP_ADDR)")
}

// fail prints an error the way every command does and returns 1.
func fail(e *env, format string, args ...any) int {
	fmt.Fprintf(e.Stderr, "Error! "+format+"\n", args...)
	return 1
}
