package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

// The tests run the test binary itself as the edgeplane binary: with
// EDGEPLANE_TEST_MAIN=1 set, TestMain runs main instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("EDGEPLANE_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(runLeavingNothing(m))
}

// runLeavingNothing runs the tests with TMPDIR pointing at a directory of
// their own, which t.TempDir and every process they start use, and fails
// the run if anything is left in it afterwards: each test removes what it
// made, including the temporary data dirs of -dev agents it killed with
// SIGKILL (startAgent gives each agent a TMPDIR under t.TempDir). It
// also fails the run if a goroutine outlives the tests.
func runLeavingNothing(m *testing.M) int {
	dir, err := os.MkdirTemp("", "edgeplane-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating the tests' TMPDIR:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Setenv("TMPDIR", dir); err != nil {
		fmt.Fprintln(os.Stderr, "setting TMPDIR:", err)
		return 1
	}
	code := m.Run()
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: goroutines outlived the tests:", err)
		return 1
	}
	left, err := os.ReadDir(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading the tests' TMPDIR:", err)
		return 1
	}
	if len(left) > 0 {
		names := make([]string, len(left))
		for i, e := range left {
			names[i] = e.Name()
		}
		fmt.Fprintf(os.Stderr, "FAIL: the tests left %d entries in their TMPDIR %s: %s\n", len(left), dir, strings.Join(names, " "))
		return 1
	}
	return code
}

// command runs this test binary as edgeplane, or the binary named by
// EDGEPLANE_BIN (scripts/bench-replication.sh passes the release build).
func command(args ...string) *exec.Cmd {
	bin := os.Args[0]
	if b := os.Getenv("EDGEPLANE_BIN"); b != "" {
		bin = b
	}
	cmd := exec.Command(bin, args...)
	// Under -race, GORACE saves the race runtime's one-second pause at exit.
	cmd.Env = append(os.Environ(), "EDGEPLANE_TEST_MAIN=1", "GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	return cmd
}

// run runs an edgeplane command to completion.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runEnv(t, nil, stdin, args...)
}

// runEnv is run with extra environment variables.
func runEnv(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := command(args...)
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("running %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

// agentProc is an agent running as a child process.
type agentProc struct {
	t          testing.TB
	cmd        *exec.Cmd
	httpAddr   string
	gossipAddr string
	done       chan struct{} // closed when the process has exited
	exitCode   int

	mu   sync.Mutex
	logs []string
}

// startAgent starts `edgeplane agent` with args plus a free HTTP port and
// JSON logs, and waits until it serves.
//
// A -dev agent makes its data dir under TMPDIR and removes it when it
// stops gracefully; one killed with SIGKILL cannot. Each agent gets a
// TMPDIR of its own under t.TempDir, removed after the agent is killed
// (cleanups run last-registered first).
func startAgent(t testing.TB, args ...string) *agentProc {
	t.Helper()
	return startAgentIn(t, t.TempDir(), args...)
}

// startAgentIn is startAgent with the agent's TMPDIR given; the caller
// removes it after the agent's cleanup, e.g. by making it with t.TempDir
// before the call.
func startAgentIn(t testing.TB, tmpdir string, args ...string) *agentProc {
	t.Helper()
	cmd := command(append([]string{"agent", "-http-addr", "127.0.0.1:0", "-bind", "127.0.0.1", "-gossip-port", "0", "-rpc-port", "0", "-log-json"}, args...)...)
	cmd.Env = append(cmd.Env, "TMPDIR="+tmpdir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &agentProc{t: t, cmd: cmd, done: make(chan struct{})}
	started := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs = append(p.logs, line)
			p.mu.Unlock()
			var rec struct {
				Msg        string `json:"msg"`
				HTTPAddr   string `json:"http_addr"`
				GossipAddr string `json:"gossip_addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "agent started" {
				started <- [2]string{rec.HTTPAddr, rec.GossipAddr}
			}
		}
		_ = cmd.Wait() // the exit code says what happened
		p.exitCode = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("agent log:\n%s", p.log())
		}
	})
	select {
	case addrs := <-started:
		p.httpAddr, p.gossipAddr = addrs[0], addrs[1]
	case <-p.done:
		t.Fatalf("agent exited with %d before serving:\n%s", p.exitCode, p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not start within 30s:\n%s", p.log())
	}
	return p
}

func (p *agentProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs, "\n")
}

// waitLog waits until a log line contains s.
func (p *agentProc) waitLog(s string) {
	p.t.Helper()
	testutil.Eventually(p.t, 30*time.Second, func() error {
		if strings.Contains(p.log(), s) {
			return nil
		}
		select {
		case <-p.done:
			if strings.Contains(p.log(), s) {
				return nil
			}
			p.t.Fatalf("agent exited before logging %q", s)
		default:
		}
		return fmt.Errorf("agent did not log %q", s)
	})
}

// wait waits for the process to exit and returns its exit code.
func (p *agentProc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.exitCode
	case <-time.After(60 * time.Second):
		p.t.Fatalf("agent did not exit within 60s")
		return -1
	}
}

func (p *agentProc) url(path string) string { return "http://" + p.httpAddr + path }

// cli runs a client command against the agent, found through
// EDGEPLANE_HTTP_ADDR.
func (p *agentProc) cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runEnv(t, []string{"EDGEPLANE_HTTP_ADDR=" + p.httpAddr}, "", args...)
}

func TestQuickStart(t *testing.T) {
	p := startAgent(t, "-dev")
	if out, errOut, code := p.cli(t, "kv", "put", "app/timeout", "3s"); code != 0 {
		t.Fatalf("kv put: %d %s %s", code, out, errOut)
	}
	out, errOut, code := p.cli(t, "kv", "get", "app/timeout")
	if code != 0 || out != "3s\n" {
		t.Fatalf("kv get = %d %q %s", code, out, errOut)
	}
	if _, errOut, code := p.cli(t, "kv", "get", "app/missing"); code == 0 || !strings.Contains(errOut, "No key exists") {
		t.Fatalf("kv get of a missing key = %d %s", code, errOut)
	}
	// SIGTERM shuts down cleanly.
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d", code)
	}
}

// TestDevAgentRemovesTheDirOfAKilledOne: a -dev agent killed with SIGKILL
// leaves its data dir; the next -dev agent started with the same TMPDIR
// removes it (once it is older than a minute: the test ages it), and keeps
// its own.
func TestDevAgentRemovesTheDirOfAKilledOne(t *testing.T) {
	tmp := t.TempDir()
	killed := startAgentIn(t, tmp, "-dev", "-node", "killed")
	if err := killed.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed.wait()
	left := devDirs(t, tmp)
	if len(left) != 1 {
		t.Fatalf("dev dirs after SIGKILL: %v, want the killed agent's", left)
	}
	old := time.Now().Add(-2 * time.Minute)
	if err := os.Chtimes(left[0], old, old); err != nil {
		t.Fatal(err)
	}
	next := startAgentIn(t, tmp, "-dev", "-node", "next")
	next.waitLog("removed the data dirs of -dev agents that did not stop")
	now := devDirs(t, tmp)
	if len(now) != 1 || now[0] == left[0] {
		t.Fatalf("dev dirs with the next agent running: %v (the killed agent's was %s)", now, left[0])
	}
}

// devDirs lists the -dev data dirs in dir.
func devDirs(t *testing.T, dir string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(dir, "edgeplane-dev-*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	p := startAgent(t, "-data-dir", dir)
	p.cli(t, "kv", "put", "k", "v1")
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code after SIGINT = %d", code)
	}
	p2 := startAgent(t, "-data-dir", dir)
	if out, _, _ := p2.cli(t, "kv", "get", "k"); out != "v1\n" {
		t.Fatalf("after restart kv get = %q", out)
	}
}

func TestSecondSignalForcesExit(t *testing.T) {
	p := startAgent(t, "-dev")
	// The API serves: a request sent now is accepted and handled at once.
	testutil.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(p.url("/v1/agent/self"))
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	// A PUT whose body does not finish before the test ends keeps the
	// graceful shutdown waiting.
	unblock := make(chan struct{})
	req, err := http.NewRequest(http.MethodPut, p.url("/v1/kv/slow"), io.MultiReader(strings.NewReader("partial"), blockingReader(unblock)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 1000
	var clientPort atomic.Int64
	wrote := make(chan struct{})
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn:      func(c httptrace.GotConnInfo) { clientPort.Store(int64(c.Conn.LocalAddr().(*net.TCPAddr).Port)) },
		WroteHeaders: func() { close(wrote) },
	}))
	var put sync.WaitGroup
	put.Go(func() { http.DefaultClient.Do(req) }) //nolint:errcheck // the agent dies under it
	t.Cleanup(func() { close(unblock); put.Wait() })
	// Wait until the request is in flight: its headers are sent, and the
	// agent holds its connection, so its handler is reading the body.
	select {
	case <-wrote:
	case <-time.After(30 * time.Second):
		t.Fatal("the PUT's headers were never written")
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if !inFlight(p, int(clientPort.Load())) {
			return errors.New("the agent holds no connection from the PUT")
		}
		return nil
	})
	p.cmd.Process.Signal(syscall.SIGINT)
	p.waitLog("shutting down")
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(); code != 1 {
		t.Fatalf("exit code after a second SIGINT = %d, want 1 (forced)", code)
	}
	if !strings.Contains(p.log(), "exiting at once") {
		t.Fatalf("no forced-exit log line:\n%s", p.log())
	}
}

// inFlight reports whether the agent's HTTP port has an established TCP
// connection from the client port given, read from /proc/net/tcp.
func inFlight(p *agentProc, clientPort int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return true // cannot tell: carry on
	}
	_, port, _ := strings.Cut(p.httpAddr, ":")
	var n int
	fmt.Sscan(port, &n)
	local, remote := fmt.Sprintf(":%04X", n), fmt.Sprintf(":%04X", clientPort)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], local) && strings.HasSuffix(f[2], remote) && f[3] == "01" { // ESTABLISHED
			return true
		}
	}
	return false
}

// blockingReader blocks every read until it is closed, then fails it.
type blockingReader chan struct{}

func (r blockingReader) Read([]byte) (int, error) {
	<-r
	return 0, io.ErrUnexpectedEOF
}

func TestSecondAgentOnSameDataDirFailsFast(t *testing.T) {
	dir := t.TempDir()
	startAgent(t, "-data-dir", dir)
	start := time.Now()
	_, errOut, code := run(t, "", "agent", "-data-dir", dir, "-http-addr", "127.0.0.1:0", "-bind", "127.0.0.1", "-gossip-port", "0", "-rpc-port", "0")
	if code == 0 || !strings.Contains(errOut, "data dir in use by another agent") {
		t.Fatalf("second agent = %d:\n%s", code, errOut)
	}
	if elapsed := time.Since(start); elapsed > 20*time.Second {
		t.Fatalf("second agent took %v to fail", elapsed)
	}
}

func TestBadConfigRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "datacenter: dc1\nsite: shop\ngosip_port: 7946\n", []string{"edgeplane.yaml:3", "gosip_port"}},
		{"bad duration", "tombstone_ttl: 3 days\n", []string{"edgeplane.yaml:1", "tombstone_ttl"}},
		{"bad address", "node_name: a\nbind_addr: 300.1.1.1\n", []string{"edgeplane.yaml:2", "bind_addr"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := dir + "/edgeplane.yaml"
			if err := os.WriteFile(file, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"agent", "-config-file", file, "-data-dir", t.TempDir(), "-http-addr", "127.0.0.1:0"},
				{"validate", "-config-file", file},
			} {
				_, errOut, code := run(t, "", args...)
				if code == 0 {
					t.Fatalf("%s exited 0 with a bad config", args[0])
				}
				for _, w := range tt.want {
					if !strings.Contains(errOut, w) {
						t.Errorf("%s: error %q does not name %q", args[0], errOut, w)
					}
				}
			}
		})
	}
	// The example configuration that packages install is valid.
	if out, errOut, code := run(t, "", "validate", "-config-file", "../../../build/edgeplane.yaml"); code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("validate build/edgeplane.yaml = %d %s %s", code, out, errOut)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	p := startAgent(t, "-dev")
	p.cli(t, "kv", "put", "-flags", "7", "app/a", "one")
	p.cli(t, "kv", "put", "app/b/c", "two\nlines")
	p.cli(t, "kv", "put", "app/empty")
	export, errOut, code := p.cli(t, "kv", "export", "app/")
	if code != 0 {
		t.Fatalf("export: %s", errOut)
	}
	if _, _, code := p.cli(t, "kv", "delete", "-recurse", "app/"); code != 0 {
		t.Fatal("delete -recurse failed")
	}
	if keys, _, _ := p.cli(t, "kv", "list", "app/"); keys != "" {
		t.Fatalf("keys left after delete: %q", keys)
	}
	file := t.TempDir() + "/export.json"
	os.WriteFile(file, []byte(export), 0o600)
	if _, errOut, code := p.cli(t, "kv", "import", file); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	again, _, _ := p.cli(t, "kv", "export", "app/")
	if again != export {
		t.Fatalf("export after import differs:\n%s\nvs\n%s", again, export)
	}
	if !strings.Contains(export, `"flags": 7`) {
		t.Fatalf("flags not exported: %s", export)
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{"-h"}, {"agent", "-h"}, {"kv", "-h"}, {"kv", "put", "-h"}, {"kv", "get", "-h"},
		{"kv", "delete", "-h"}, {"kv", "list", "-h"}, {"kv", "export", "-h"}, {"kv", "import", "-h"},
		{"version", "-h"}, {"info", "-h"}, {"validate", "-h"},
		{"members", "-h"}, {"join", "-h"}, {"leave", "-h"}, {"force-leave", "-h"}, {"keygen", "-h"},
		{"keyring", "-h"}, {"rpc", "ping", "-h"}, {"tls", "ca", "create", "-h"}, {"tls", "cert", "create", "-h"},
		{"snapshot", "save", "-h"}, {"snapshot", "restore", "-h"},
	} {
		out, errOut, code := run(t, "", args...)
		if code != 0 || !strings.Contains(out, "Usage: edgeplane") {
			t.Errorf("%v: code %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	if _, _, code := run(t, "", "frobnicate"); code == 0 {
		t.Error("an unknown command exited 0")
	}
	if out, _, code := run(t, "", "version"); code != 0 || !strings.HasPrefix(out, "edgeplane ") {
		t.Errorf("version = %d %q", code, out)
	}
	for _, flag := range []string{"-v", "-version", "--version"} {
		if out, _, code := run(t, "", flag); code != 0 || !strings.HasPrefix(out, "edgeplane ") {
			t.Errorf("%s = %d %q", flag, code, out)
		}
	}
	// Help goes to stdout only, once.
	if out, errOut, code := run(t, "", "kv", "put", "-h"); code != 0 || errOut != "" || strings.Count(out, "Usage: edgeplane kv put") != 1 {
		t.Errorf("kv put -h = %d %q %q", code, out, errOut)
	}
}

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func getenvUint(name string) uint64 {
	var n uint64
	fmt.Sscan(os.Getenv(name), &n)
	return n
}
