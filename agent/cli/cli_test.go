package cli

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/internal/apitest"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/version"
)

// result is what a command did.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the command line args with stdin, talking to the agent at addr
// through EDGEPLANE_HTTP_ADDR ("" leaves it unset).
func run(t *testing.T, addr, stdin string, args ...string) result {
	t.Helper()
	return runCtx(context.Background(), addr, stdin, args...)
}

func runCtx(ctx context.Context, addr, stdin string, args ...string) result {
	var out, errb testutil.SyncBuffer
	code := Main(args, testEnv(ctx, addr, stdin, &out, &errb))
	return result{code, out.String(), errb.String()}
}

func testEnv(ctx context.Context, addr, stdin string, out, errb *testutil.SyncBuffer) IO {
	return IO{
		Stdin: strings.NewReader(stdin), Stdout: out, Stderr: errb, Context: ctx,
		Getenv: func(k string) (string, bool) {
			if k == "EDGEPLANE_HTTP_ADDR" && addr != "" {
				return addr, true
			}
			return "", false
		},
	}
}

// expect checks a result: its exit code, and that stdout and stderr hold
// the given strings ("" checks nothing).
func (r result) expect(t *testing.T, code int, stdout, stderr string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stdout, stdout) || !strings.Contains(r.stderr, stderr) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
			r.code, r.stdout, r.stderr, code, stdout, stderr)
	}
}

// leaves returns every runnable command line of the tree, e.g. "kv put".
func leaves(path []string, entries []entry) [][]string {
	var out [][]string
	for _, e := range entries {
		name := append(append([]string(nil), path...), strings.Fields(e.name)...)
		if e.new == nil {
			out = append(out, leaves(name, e.sub)...)
		} else {
			out = append(out, name)
		}
	}
	return out
}

// TestHelpOnce asks every command, and every group, for help: it is
// printed once, to stdout, and the exit code is 0.
func TestHelpOnce(t *testing.T) {
	lines := append(leaves(nil, commands), nil, []string{"kv"}, []string{"rpc"}, []string{"snapshot"}, []string{"tls"},
		[]string{"services"}, []string{"check"}, []string{"render"})
	for _, cmd := range lines {
		for _, h := range []string{"-h", "-help", "--help"} {
			r := run(t, "", "", append(cmd, h)...)
			if r.code != 0 || r.stderr != "" || strings.Count(r.stdout, "Usage: edgeplane") != 1 {
				t.Errorf("%v %s: exit %d, stdout %q, stderr %q; want the usage once on stdout", cmd, h, r.code, r.stdout, r.stderr)
			}
			if name := strings.Join(cmd, " "); !strings.Contains(r.stdout, "Usage: edgeplane "+name) {
				t.Errorf("%v %s: usage does not name the command: %q", cmd, h, r.stdout)
			}
		}
	}
	// Commands that talk to an agent document where they find it.
	if r := run(t, "", "", "kv", "get", "-h"); !strings.Contains(r.stdout, "-http-addr") || !strings.Contains(r.stdout, "EDGEPLANE_HTTP_ADDR") {
		t.Errorf("kv get -h does not document -http-addr:\n%s", r.stdout)
	}
}

func TestVersionFlags(t *testing.T) {
	for _, args := range [][]string{{"-v"}, {"-version"}, {"--version"}, {"version"}} {
		run(t, "", "", args...).expect(t, 0, version.String()+"\n", "")
	}
}

// TestUsageErrors: a bare group, an unknown command or subcommand, an
// unknown flag, a bad flag value and a wrong number of arguments each exit
// 1 with a message on stderr and nothing on stdout.
func TestUsageErrors(t *testing.T) {
	a := apitest.Start(t) // reachable, so only usage can be at fault
	tests := []struct {
		args []string
		want string
	}{
		{nil, "Usage: edgeplane <command>"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"kv"}, "Usage: edgeplane kv <subcommand>"},
		{[]string{"kv", "frob"}, `edgeplane kv: unknown subcommand "frob"`},
		{[]string{"tls", "ca"}, `unknown subcommand "ca"`},
		{[]string{"rpc"}, "Usage: edgeplane rpc <subcommand>"},
		{[]string{"snapshot", "copy", "f"}, `unknown subcommand "copy f"`},
		{[]string{"members", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"kv", "put", "-flags", "x", "k"}, `invalid value "x" for flag -flags`},
		{[]string{"-v", "extra"}, `unknown command "-v"`},
		{[]string{"agent", "extra"}, `agent takes no arguments, got "extra"`},
		{[]string{"members", "extra"}, `members takes no arguments, got "extra"`},
		{[]string{"leave", "now"}, `leave takes no arguments, got "now"`},
		{[]string{"info", "x"}, "info takes no arguments"},
		{[]string{"keygen", "x"}, "keygen takes no arguments"},
		{[]string{"join-token", "-seeds"}, "flag needs an argument: -seeds"},
		{[]string{"keyring", "-list", "x"}, "keyring takes no arguments"},
		{[]string{"reload", "x"}, "reload takes no arguments"},
		{[]string{"version", "x"}, "version takes no arguments"},
		{[]string{"tls", "ca", "create", "x"}, "tls ca create takes no arguments"},
		{[]string{"tls", "cert", "create", "-node", "n", "x"}, "tls cert create takes no arguments"},
		{[]string{"services", "register"}, "services register takes FILE|-, got 0 arguments"},
		{[]string{"services", "deregister", "a", "b"}, "services deregister takes ID, got 2 arguments"},
		{[]string{"services", "list", "x"}, "services list takes no arguments"},
		{[]string{"check", "warn"}, "check warn takes ID, got 0 arguments"},
		{[]string{"kv", "put"}, "kv put takes KEY [VALUE], got 0 arguments"},
		{[]string{"kv", "put", "k", "v", "w"}, "kv put takes KEY [VALUE], got 3 arguments"},
		{[]string{"kv", "get"}, "kv get takes exactly one KEY"},
		{[]string{"kv", "get", "a", "b"}, "kv get takes KEY, got 2 arguments"},
		{[]string{"kv", "delete"}, "kv delete takes exactly one KEY"},
		{[]string{"kv", "delete", "a", "b"}, "kv delete takes KEY, got 2 arguments"},
		{[]string{"kv", "delete", "-cas", "-recurse", "a"}, "-cas and -recurse cannot be combined"},
		{[]string{"kv", "list", "a", "b"}, "kv list takes [PREFIX], got 2 arguments"},
		{[]string{"kv", "export", "a", "b"}, "kv export takes [PREFIX], got 2 arguments"},
		{[]string{"kv", "import", "a", "b"}, "kv import takes [FILE | - | @FILE], got 2 arguments"},
		{[]string{"kv", "watch", "a", "b"}, "kv watch takes [PREFIX], got 2 arguments"},
		{[]string{"kv", "watch", "-format", "xml"}, "-format must be text or json"},
		{[]string{"kv", "watch", "-wait", "11m"}, "-wait must be more than 0 and at most 10m"},
		{[]string{"kv", "watch", "-max-errors", "-1"}, "-max-errors must be 0 or more"},
		{[]string{"join"}, "join takes ADDRESS..., got 0 arguments"},
		{[]string{"force-leave"}, "force-leave takes NODE, got 0 arguments"},
		{[]string{"force-leave", "a", "b"}, "force-leave takes NODE, got 2 arguments"},
		{[]string{"rpc", "ping"}, "rpc ping takes NODE, got 0 arguments"},
		{[]string{"rpc", "ping", "a", "b"}, "rpc ping takes NODE, got 2 arguments"},
		{[]string{"rpc", "ping", "-count", "0", "a"}, "-count must be between 1 and 1000"},
		{[]string{"snapshot", "save"}, "snapshot save takes FILE, got 0 arguments"},
		{[]string{"snapshot", "restore", "a", "b"}, "snapshot restore takes FILE, got 2 arguments"},
		{[]string{"members", "-format", "xml"}, "-format must be table or json"},
		{[]string{"members", "-status", "gone"}, "-status must be alive, suspect, leaving, left or failed"},
		{[]string{"keyring"}, "keyring takes exactly one of -list, -install, -use, -remove"},
		{[]string{"keyring", "-list", "-use", "k"}, "keyring takes exactly one of"},
		{[]string{"validate"}, "validate needs -config-file or -config-dir"},
		{[]string{"tls", "cert", "create"}, "-node is required"},
		{[]string{"kv", "get", "-http-addr", "ftp://127.0.0.1:1", "k"}, "-http-addr: api: address"},
	}
	for _, tt := range tests {
		r := run(t, a.Addr, "", tt.args...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 1 and %q", tt.args, r.code, r.stdout, r.stderr, tt.want)
		}
	}
}

// TestAgentDown runs every command that talks to an agent where none
// listens: each fails with exit 1 and says it cannot reach the agent.
func TestAgentDown(t *testing.T) {
	dead := apitest.DeadAddress(t)
	file := t.TempDir() + "/f"
	tests := [][]string{
		{"kv", "put", "k", "v"}, {"kv", "put", "-cas", "k", "v"}, {"kv", "get", "k"}, {"kv", "get", "-recurse"},
		{"kv", "delete", "k"}, {"kv", "delete", "-recurse", "p/"}, {"kv", "delete", "-cas", "-modify-index", "3", "k"},
		{"kv", "list"}, {"kv", "export"}, {"kv", "watch", "-max-errors", "1"},
		{"members"}, {"join", "127.0.0.1:7946"}, {"leave"}, {"force-leave", "n"},
		{"keyring", "-list"}, {"keyring", "-install", "k"}, {"info"}, {"reload"}, {"rpc", "ping", "n"}, {"join-token"}, {"monitor"}, {"log-level", "debug"},
		{"snapshot", "save", file}, {"debug", "-duration", "1s", "-output", file + ".tar.gz"},
		{"services", "list"}, {"services", "deregister", "web"}, {"services", "register", "-"},
		{"check", "pass", "c"}, {"check", "fail", "-note", "n", "c"},
	}
	for _, args := range tests {
		r := run(t, dead, "", args...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "cannot reach the agent at http://"+dead) {
			t.Errorf("%q with no agent: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stderr, "<nil>") {
			t.Errorf("%q: stray <nil> in %q", args, r.stderr)
		}
	}
	if _, err := os.Stat(file + ".tar.gz"); err == nil {
		t.Error("debug wrote an archive with no agent")
	}
	// The import reads its input before it calls the agent.
	r := run(t, dead, `[{"key": "a", "flags": 0, "value": "MQ=="}]`, "kv", "import")
	r.expect(t, 1, "", "cannot reach the agent")
}
