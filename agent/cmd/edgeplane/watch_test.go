package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

// watchProc is `edgeplane kv watch` running as a child process, its
// stdout read line by line.
type watchProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string
	stderr *testutil.SyncBuffer
	done   chan struct{}
}

func startWatch(t *testing.T, httpAddr string, args ...string) *watchProc {
	t.Helper()
	cmd := command(append([]string{"kv", "watch"}, args...)...)
	cmd.Env = append(cmd.Env, "EDGEPLANE_HTTP_ADDR="+httpAddr)
	w := &watchProc{t: t, cmd: cmd, lines: make(chan string, 100), stderr: &testutil.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = w.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		close(w.lines)
	}()
	go func() {
		// Wait closes stdout once the process is gone, ending the reader.
		_ = cmd.Wait() // the exit code is read from ProcessState
		close(w.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-w.done
	})
	return w
}

// next returns the next line of output, failing after 15 s.
func (w *watchProc) next() string {
	w.t.Helper()
	select {
	case line, ok := <-w.lines:
		if !ok {
			w.t.Fatalf("kv watch ended its output; stderr:\n%s", w.stderr.String())
		}
		return line
	case <-time.After(15 * time.Second):
		w.t.Fatalf("kv watch printed nothing within 15s; stderr:\n%s", w.stderr.String())
		return ""
	}
}

func (w *watchProc) expect(want string) {
	w.t.Helper()
	if got := w.next(); got != want {
		w.t.Fatalf("kv watch printed %q, want %q", got, want)
	}
}

// stop sends sig and checks that the process exits 0 without printing
// anything more.
func (w *watchProc) stop(sig os.Signal) {
	w.t.Helper()
	w.cmd.Process.Signal(sig)
	select {
	case <-w.done:
	case <-time.After(15 * time.Second):
		w.t.Fatalf("kv watch did not exit within 15s of %v", sig)
	}
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		w.t.Fatalf("kv watch exited %d after %v; stderr:\n%s", code, sig, w.stderr.String())
	}
	for line := range w.lines {
		w.t.Errorf("kv watch printed an unexpected line: %q", line)
	}
}

func mustCLI(t *testing.T, p *agentProc, args ...string) {
	t.Helper()
	if out, errOut, code := p.cli(t, args...); code != 0 {
		t.Fatalf("%v = %d %s %s", args, code, out, errOut)
	}
}

// TestKVWatch runs `kv watch app/` in text and JSON formats against a dev
// agent, writes and deletes keys, and checks each change is printed once,
// in order, and that SIGINT and SIGTERM end the watch with exit 0.
func TestKVWatch(t *testing.T) {
	p := startAgent(t, "-dev")
	mustCLI(t, p, "kv", "put", "app/a", "one")
	mustCLI(t, p, "kv", "put", "other/x", "outside")

	text := startWatch(t, p.httpAddr, "app/")
	text.expect("app/a=one") // the current keys first

	js := startWatch(t, p.httpAddr, "-changes-only", "-format=json", "app/")
	// With -changes-only nothing is printed until a change: write a marker
	// until the watch has seen one, so that it is known to be watching.
	type event struct {
		Key         string
		Value       []byte
		Flags       uint64
		ModifyIndex uint64 `json:"modify_index"`
		Deleted     bool
	}
	nextEvent := func() event {
		t.Helper()
		line := js.next()
		var ev event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("kv watch -format=json printed %q: %v", line, err)
		}
		return ev
	}
	var marker event
	for i := 0; ; i++ {
		if i == 100 {
			t.Fatal("kv watch -changes-only never printed the marker key")
		}
		mustCLI(t, p, "kv", "put", "app/marker", fmt.Sprint(i))
		select {
		case line := <-js.lines:
			if err := json.Unmarshal([]byte(line), &marker); err != nil || marker.Key != "app/marker" {
				t.Fatalf("first line of kv watch -changes-only = %q", line)
			}
		case <-time.After(100 * time.Millisecond): // not watching yet
			continue
		}
		break
	}
	if marker.ModifyIndex == 0 || marker.Deleted {
		t.Fatalf("marker event = %+v", marker)
	}
	// The text watch saw the marker too (possibly coalesced to one line).
	for {
		line := text.next()
		if !strings.HasPrefix(line, "app/marker=") {
			t.Fatalf("text watch printed %q, want the marker", line)
		}
		if line == "app/marker="+string(marker.Value) {
			break
		}
	}

	mustCLI(t, p, "kv", "put", "-flags", "5", "app/b", "two")
	text.expect("app/b=two")
	if ev := nextEvent(); ev.Key != "app/b" || string(ev.Value) != "two" || ev.Flags != 5 || ev.Deleted || ev.ModifyIndex <= marker.ModifyIndex {
		t.Fatalf("json event for app/b = %+v", ev)
	}

	// A key outside the prefix wakes neither watch: the next line of each
	// is the change after it.
	mustCLI(t, p, "kv", "put", "other/y", "outside")
	mustCLI(t, p, "kv", "put", "app/a", "line1\nline2")
	text.expect(`app/a="line1\nline2"`)
	if ev := nextEvent(); ev.Key != "app/a" || string(ev.Value) != "line1\nline2" {
		t.Fatalf("json event for app/a = %+v", ev)
	}

	mustCLI(t, p, "kv", "delete", "app/b")
	text.expect("app/b deleted")
	if ev := nextEvent(); ev.Key != "app/b" || !ev.Deleted || len(ev.Value) != 0 || ev.ModifyIndex == 0 {
		t.Fatalf("json event for the deletion of app/b = %+v", ev)
	}

	// A prefix delete prints every key it removed.
	mustCLI(t, p, "kv", "delete", "-recurse", "app/")
	text.expect("app/a deleted")
	text.expect("app/marker deleted")
	for _, key := range []string{"app/a", "app/marker"} {
		if ev := nextEvent(); ev.Key != key || !ev.Deleted {
			t.Fatalf("json event = %+v, want the deletion of %s", ev, key)
		}
	}

	text.stop(syscall.SIGINT)
	js.stop(syscall.SIGTERM)
}

// TestKVWatchSeesReplicatedChanges watches a prefix on one agent while
// another agent writes and deletes under it.
func TestKVWatchSeesReplicatedChanges(t *testing.T) {
	seed := startAgent(t, "-dev", "-node", "seed")
	a := startAgent(t, "-dev", "-node", "a", "-retry-interval", "100ms", "-join", seed.gossipAddr)
	waitMembers(t, seed, "a", "alive")
	waitMembers(t, a, "seed", "alive")

	w := startWatch(t, a.httpAddr, "app/")
	// Printed as a current key or as a change, whichever comes first: the
	// line is the same.
	mustCLI(t, seed, "kv", "put", "app/x", "1")
	w.expect("app/x=1")
	mustCLI(t, seed, "kv", "put", "app/x", "2")
	w.expect("app/x=2")
	mustCLI(t, seed, "kv", "delete", "app/x")
	w.expect("app/x deleted")
	w.stop(syscall.SIGINT)
}

// TestKVWatchResetsIndexAndRetries runs kv watch against a scripted API:
// an error is retried and followed by a non-blocking read, an index that
// goes backwards restarts from 0, and a 404 means every key is gone.
func TestKVWatchResetsIndexAndRetries(t *testing.T) {
	type answer struct {
		status int
		index  uint64
		body   string
	}
	answers := []answer{
		{200, 10, `[{"Key":"a","Value":"MQ==","ModifyIndex":10}]`},
		{500, 0, "store failure"},
		{200, 12, `[{"Key":"a","Value":"MQ==","ModifyIndex":10},{"Key":"b","Value":"Mg==","ModifyIndex":12}]`},
		{200, 5, `[{"Key":"b","Value":"Mg==","ModifyIndex":5}]`}, // the store was replaced
		{200, 5, `[{"Key":"b","Value":"Mg==","ModifyIndex":5}]`},
		{404, 6, ""},
	}
	var (
		mu      sync.Mutex
		indexes []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/kv/p/" || !r.URL.Query().Has("recurse") {
			http.Error(w, "unexpected request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		n := len(indexes)
		indexes = append(indexes, r.URL.Query().Get("index"))
		mu.Unlock()
		if n >= len(answers) {
			<-r.Context().Done() // block as a quiet prefix does
			return
		}
		a := answers[n]
		if a.index > 0 {
			w.Header().Set("X-Consul-Index", fmt.Sprint(a.index))
		}
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.body)
	}))
	defer srv.Close()

	w := startWatch(t, srv.URL, "p/")
	w.expect("a=1")
	w.expect("b=2")       // after the error, a read at once
	w.expect("a deleted") // index 5 < 12: the store changed
	w.expect("b=2")       // with another modify index
	w.expect("b deleted") // 404
	want := []string{"", "10", "", "12", "", "5", "6"}
	testutil.Eventually(t, 15*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(indexes) < len(want) {
			return fmt.Errorf("%d queries arrived, want %d", len(indexes), len(want))
		}
		return nil
	})
	w.stop(syscall.SIGINT)

	mu.Lock()
	defer mu.Unlock()
	if strings.Join(indexes, ",") != strings.Join(want, ",") {
		t.Fatalf("indexes sent = %q, want %q", indexes, want)
	}
	if !strings.Contains(w.stderr.String(), "store failure") {
		t.Fatalf("the failed request was not reported:\n%s", w.stderr.String())
	}
}

// TestKVWatchGivesUp checks that a watch with no agent gives up after
// -max-errors failures, and that a request the agent refuses (400) is not
// retried.
func TestKVWatchGivesUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	start := time.Now()
	_, errOut, code := runEnv(t, []string{"EDGEPLANE_HTTP_ADDR=" + dead}, "", "kv", "watch", "-max-errors", "3", "app/")
	if code != 1 || !strings.Contains(errOut, "giving up after 3 failed requests") {
		t.Fatalf("kv watch without an agent = %d:\n%s", code, errOut)
	}
	// Two waits: 0.5 s and 1 s, each with up to a quarter of jitter.
	if elapsed := time.Since(start); elapsed < 1500*time.Millisecond || elapsed > 10*time.Second {
		t.Fatalf("kv watch gave up after %v, want about 1.5-2 s of backoff", elapsed)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Bad request: unsupported query parameter", http.StatusBadRequest)
	}))
	defer srv.Close()
	_, errOut, code = runEnv(t, []string{"EDGEPLANE_HTTP_ADDR=" + srv.URL}, "", "kv", "watch", "app/")
	if code != 1 || !strings.Contains(errOut, "400") || strings.Contains(errOut, "retrying") {
		t.Fatalf("kv watch on a 400 = %d:\n%s", code, errOut)
	}

	for _, args := range [][]string{{"-format", "xml"}, {"-wait", "11m"}, {"a/", "b/"}} {
		if _, _, code := run(t, "", append([]string{"kv", "watch"}, args...)...); code != 1 {
			t.Errorf("kv watch %v exited %d, want 1", args, code)
		}
	}
}

func TestKVWatchHelp(t *testing.T) {
	out, errOut, code := run(t, "", "kv", "watch", "-h")
	if code != 0 || !strings.Contains(out, "Usage: edgeplane kv watch") || !strings.Contains(out, "-changes-only") {
		t.Fatalf("kv watch -h = %d %q %s", code, out, errOut)
	}
	if out, _, _ := run(t, "", "kv", "-h"); !strings.Contains(out, "watch") {
		t.Fatalf("kv -h does not list watch:\n%s", out)
	}
}
