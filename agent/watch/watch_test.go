package watch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/watch"
)

// Each type's handler reads, at start, the JSON the HTTP API answers for
// the same query (a key watch the one entry, a missing key or an empty
// prefix null), and CONSUL_INDEX and EDGEPLANE_INDEX hold the answer's
// index.
func TestHandlerGetsTheAPIsJSON(t *testing.T) {
	a := apitest.Start(t)
	if _, err := a.Store.Put("app/a", []byte("one\x00<&>"), 42); err != nil {
		t.Fatal(err)
	}
	put(t, a, "app/b", "two")
	put(t, a, "odd/sp ace?q#f%", "x")
	apiDo(t, a, http.MethodPut, "/v1/agent/service/register", map[string]any{
		"ID": "web1", "Name": "web", "Tags": []string{"v1", "blue"}, "Port": 8080,
		"Check": map[string]any{"CheckID": "web1-ttl", "TTL": "10m", "Status": "passing"}})
	apiDo(t, a, http.MethodPut, "/v1/agent/service/register", map[string]any{
		"ID": "web2", "Name": "web", "Tags": []string{"v2"}, "Port": 8081,
		"Check": map[string]any{"CheckID": "web2-ttl", "TTL": "10m", "Status": "critical"}})
	apiDo(t, a, http.MethodPut, "/v1/agent/service/register", map[string]any{"ID": "db", "Name": "db", "Port": 5432})

	cases := []struct {
		spec watch.Spec
		path string // the API's answer to compare with
		null bool   // the handler reads null
	}{
		{watch.Spec{Type: watch.TypeKey, Key: "app/a"}, "/v1/kv/app/a", false},
		{watch.Spec{Type: watch.TypeKey, Key: "app/missing"}, "/v1/kv/app/missing", true},
		{watch.Spec{Type: watch.TypeKey, Key: "odd/sp ace?q#f%"}, "/v1/kv/odd/sp%20ace%3Fq%23f%25", false},
		{watch.Spec{Type: watch.TypeKeyPrefix, Prefix: "app/"}, "/v1/kv/app/?recurse", false},
		{watch.Spec{Type: watch.TypeKeyPrefix, Prefix: "none/"}, "/v1/kv/none/?recurse", true},
		{watch.Spec{Type: watch.TypeServices}, "/v1/catalog/services", false},
		{watch.Spec{Type: watch.TypeService, Service: "web"}, "/v1/health/service/web", false},
		{watch.Spec{Type: watch.TypeService, Service: "web", Tags: []string{"v1"}, PassingOnly: true}, "/v1/health/service/web?tag=v1&passing", false},
		{watch.Spec{Type: watch.TypeService, Service: "web", PassingOnly: true}, "/v1/health/service/web?passing", false},
		{watch.Spec{Type: watch.TypeChecks}, "/v1/health/state/any", false},
		{watch.Spec{Type: watch.TypeChecks, Service: "web"}, "/v1/health/checks/web", false},
		{watch.Spec{Type: watch.TypeChecks, State: "critical"}, "/v1/health/state/critical", false},
	}
	var specs []watch.Spec
	dirs := make([]string, len(cases))
	for i, c := range cases {
		dirs[i] = t.TempDir()
		c.spec.Args = recordingHandler(dirs[i])
		specs = append(specs, c.spec)
	}
	start(t, a, watch.Config{}, specs...)
	for i, c := range cases {
		t.Run(c.spec.String()+c.path, func(t *testing.T) {
			waitRuns(t, dirs[i], 1)
			got, idx := input(t, dirs[i], 1)
			status, body, wantIdx := apiGet(t, a, c.path)
			if idx != wantIdx+" "+wantIdx {
				t.Errorf("CONSUL_INDEX EDGEPLANE_INDEX = %q, the API's index is %s", idx, wantIdx)
			}
			if c.null {
				if status != http.StatusNotFound || got != "null\n" {
					t.Fatalf("handler read %q (the API answered %d)", got, status)
				}
				return
			}
			if status != http.StatusOK {
				t.Fatalf("the API answered %d %s", status, body)
			}
			want := string(body)
			if c.spec.Type == watch.TypeKey {
				var list []json.RawMessage
				if err := json.Unmarshal(body, &list); err != nil || len(list) != 1 {
					t.Fatalf("the API answered %s", body)
				}
				want = string(list[0])
			}
			if got != want+"\n" {
				t.Fatalf("handler read\n%s\nthe API answers\n%s", got, want)
			}
		})
	}

	// The shapes Consul's handlers parse.
	in, _ := input(t, dirs[0], 1)
	var pair map[string]any
	if err := json.Unmarshal([]byte(in), &pair); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"Key", "CreateIndex", "ModifyIndex", "LockIndex", "Flags", "Value"} {
		if _, ok := pair[f]; !ok {
			t.Errorf("key watch input %s lacks %s", in, f)
		}
	}
	if pair["Key"] != "app/a" || pair["Value"] != "b25lADwmPg==" || pair["Flags"] != 42.0 {
		t.Errorf("key watch input %s", in)
	}
	in, _ = input(t, dirs[8], 1)
	var entries []struct {
		Node    struct{ Node string }
		Service struct{ ID, Service string }
		Checks  []struct{ CheckID, Status string }
	}
	if err := json.Unmarshal([]byte(in), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Service.ID != "web1" || entries[0].Node.Node != apitest.NodeName || len(entries[0].Checks) != 2 {
		t.Errorf("passing web instances: %s", in)
	}
	in, _ = input(t, dirs[5], 1)
	var services map[string][]string
	if err := json.Unmarshal([]byte(in), &services); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(services["web"]) != "[blue v1 v2]" || services["db"] == nil {
		t.Errorf("services: %s", in)
	}
}

// A watch runs its handler once at start, missing key included, then at
// each change of its key only, with the new entry.
func TestFiresAtStartAndOnChange(t *testing.T) {
	a := apitest.Start(t)
	dir := t.TempDir()
	src := newSeenSource(watch.HandlerSource(a.API))
	start(t, a, watch.Config{Source: src}, watch.Spec{Type: watch.TypeKey, Key: "app/k", Args: recordingHandler(dir)})
	waitRuns(t, dir, 1)
	if in, _ := input(t, dir, 1); in != "null\n" {
		t.Fatalf("at start the handler read %q", in)
	}
	e, err := a.Store.Put("app/k", []byte("v1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	waitRuns(t, dir, 2)
	in, idx := input(t, dir, 2)
	if !strings.Contains(in, `"Value":"djE="`) || idx != fmt.Sprintf("%d %d", e.ModifyIndex, e.ModifyIndex) {
		t.Fatalf("after a put the handler read %q at %q", in, idx)
	}
	// Writes elsewhere run nothing; the next change of the key runs once.
	for i := range 20 {
		put(t, a, "app/other"+strconv.Itoa(i), "x")
	}
	if _, err := a.Store.Delete("app/k", nil); err != nil {
		t.Fatal(err)
	}
	waitRuns(t, dir, 3)
	if in, _ := input(t, dir, 3); in != "null\n" {
		t.Fatalf("after the delete the handler read %q", in)
	}
}

// A handler is never run twice at once: while it runs, many changes
// queue one more run, with the newest data, and nothing more.
func TestNeverOverlapsAndCoalesces(t *testing.T) {
	a := apitest.Start(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "gate")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// The handler takes a lock directory (its presence at start is an
	// overlap), records its input, and waits for the test to let it end
	// by writing a line into the fifo.
	handler := []string{"/bin/sh", "-c", `
d=$1
mkdir "$d/lock" 2>/dev/null || echo overlap >> "$d/overlaps"
n=$(cat "$d/count" 2>/dev/null || echo 0); n=$((n+1))
cat > "$d/in.$n"
echo "$CONSUL_INDEX $EDGEPLANE_INDEX" > "$d/idx.$n"
echo $n > "$d/count"
read line < "$d/gate"
rmdir "$d/lock"
echo $n >> "$d/ended"`, "sh", dir}
	src := newSeenSource(watch.HandlerSource(a.API))
	start(t, a, watch.Config{Source: src}, watch.Spec{Type: watch.TypeKey, Key: "app/k", Args: handler})
	release := func() {
		t.Helper()
		// Opening without blocking fails until the handler has opened
		// the fifo to read.
		testutil.Eventually(t, 20*time.Second, func() error {
			f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write([]byte("go\n"))
			return err
		})
	}
	ended := func(n int) {
		t.Helper()
		testutil.Eventually(t, 20*time.Second, func() error {
			b, _ := os.ReadFile(filepath.Join(dir, "ended"))
			if got := strings.Count(string(b), "\n"); got != n {
				return fmt.Errorf("%d runs ended, want %d", got, n)
			}
			return nil
		})
	}
	waitRuns(t, dir, 1)
	var last uint64
	for i := range 50 {
		e, err := a.Store.Put("app/k", []byte("v"+strconv.Itoa(i)), 0)
		if err != nil {
			t.Fatal(err)
		}
		last = e.ModifyIndex
	}
	src.waitSeen(t, last) // the watch has read the last write while run 1 blocks
	if n := runs(dir); n != 1 {
		t.Fatalf("%d runs started while the first ran", n)
	}
	release()
	ended(1)
	waitRuns(t, dir, 2)
	if in, _ := input(t, dir, 2); !strings.Contains(in, `"Value":"djQ5"`) { // v49
		t.Fatalf("the queued run read %q, not the newest value", in)
	}
	release()
	ended(2)
	// One more change, one more run: nothing else was queued.
	put(t, a, "app/k", "final")
	waitRuns(t, dir, 3)
	release()
	ended(3)
	if b, err := os.ReadFile(filepath.Join(dir, "overlaps")); err == nil {
		t.Fatalf("runs overlapped: %s", b)
	}
}

// With wait, changes after the first run are handed over once they have
// stopped for wait.min, as one run with the newest data.
func TestWaitPacesRuns(t *testing.T) {
	a := apitest.Start(t)
	dir := t.TempDir()
	clock := testutil.NewFakeClock(time.Unix(1_000_000, 0))
	src := newSeenSource(watch.HandlerSource(a.API))
	const minWait, maxWait = 2 * time.Second, 10 * time.Second
	start(t, a, watch.Config{Source: src, Clock: clock},
		watch.Spec{Type: watch.TypeKeyPrefix, Prefix: "app/", Args: recordingHandler(dir), WaitMin: minWait, WaitMax: maxWait})
	waitRuns(t, dir, 1) // the first run does not wait
	var last uint64
	for i := range 3 {
		e, err := a.Store.Put("app/k", []byte("v"+strconv.Itoa(i)), 0)
		if err != nil {
			t.Fatal(err)
		}
		last = e.ModifyIndex
		src.waitSeen(t, last)
		clock.WaitTimer(t, clock.Now().Add(minWait)) // quiet for min from this change
		clock.Advance(time.Second)
	}
	if n := runs(dir); n != 1 {
		t.Fatalf("%d runs before the changes were quiet for wait.min", n)
	}
	clock.Advance(minWait)
	waitRuns(t, dir, 2)
	if in, _ := input(t, dir, 2); !strings.Contains(in, `"Value":"djI="`) { // v2
		t.Fatalf("the paced run read %q", in)
	}
}

// A handler past its timeout is killed with its process group; the watch
// goes on and runs it at the next change.
func TestTimeoutKillsTheHandler(t *testing.T) {
	a := apitest.Start(t)
	dir := t.TempDir()
	handler := []string{"/bin/sh", "-c", `
n=$(cat "$1/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$1/count"
sleep 300 & echo $! > "$1/child.$n"
wait`, "sh", dir}
	m := start(t, a, watch.Config{}, watch.Spec{Type: watch.TypeKey, Key: "app/k", Args: handler, Timeout: 100 * time.Millisecond})
	waitRuns(t, dir, 1)
	childGone(t, filepath.Join(dir, "child.1"))
	testutil.Eventually(t, 20*time.Second, func() error {
		if st := m.Status(); st[0].Failures != 1 || !strings.Contains(st[0].LastError, "timed out") {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	put(t, a, "app/k", "v")
	waitRuns(t, dir, 2)
	childGone(t, filepath.Join(dir, "child.2"))
}

// childGone waits until the process whose pid is in file has ended.
func childGone(t *testing.T, file string) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		raw, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			return err
		}
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		if stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); strings.Contains(string(stat), ") Z ") {
			return nil // dead, not yet reaped
		}
		return errors.New("the handler's child still runs")
	})
}

// Set adds and removes watches; an unchanged one keeps running and does
// not run again.
func TestSetAddsAndRemoves(t *testing.T) {
	a := apitest.Start(t)
	keep, drop, add := t.TempDir(), t.TempDir(), t.TempDir()
	kept := watch.Spec{Type: watch.TypeKey, Key: "app/keep", Args: recordingHandler(keep)}
	m := start(t, a, watch.Config{}, kept, watch.Spec{Type: watch.TypeKey, Key: "app/drop", Args: recordingHandler(drop)})
	waitRuns(t, keep, 1)
	waitRuns(t, drop, 1)
	if err := m.Set([]watch.Spec{kept, {Type: watch.TypeServices, Args: recordingHandler(add)}}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(m.Running()); got != "[key:app/keep services]" {
		t.Fatalf("running %s", got)
	}
	waitRuns(t, add, 1) // the new watch runs at its start
	put(t, a, "app/drop", "x")
	put(t, a, "app/keep", "x")
	waitRuns(t, keep, 2) // the kept watch still follows its key, and ran once only before
	if n := runs(drop); n != 1 {
		t.Fatalf("the removed watch ran %d times", n)
	}
	if err := m.Set([]watch.Spec{{Type: "nope"}}); err == nil {
		t.Fatal("Set took an invalid watch")
	}
	m.Close()
	if err := m.Set(nil); !errors.Is(err, watch.ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}
}

func TestSpecValidate(t *testing.T) {
	h := []string{"/bin/true"}
	cases := []struct {
		spec  watch.Spec
		field string // "" valid
	}{
		{watch.Spec{Type: watch.TypeKey, Key: "a", Args: h}, ""},
		{watch.Spec{Type: watch.TypeKey, Args: h}, "key"},
		{watch.Spec{Type: watch.TypeKeyPrefix, Args: h}, "prefix"},
		{watch.Spec{Type: watch.TypeKeyPrefix, Prefix: "a/", Shell: "echo"}, ""},
		{watch.Spec{Type: watch.TypeServices, Args: h}, ""},
		{watch.Spec{Type: watch.TypeServices, Service: "x", Args: h}, "service"},
		{watch.Spec{Type: watch.TypeService, Args: h}, "service"},
		{watch.Spec{Type: watch.TypeService, Service: "web", Tags: []string{"a"}, PassingOnly: true, Args: h}, ""},
		{watch.Spec{Type: watch.TypeKey, Key: "a", PassingOnly: true, Args: h}, "passingonly"},
		{watch.Spec{Type: watch.TypeKey, Key: "a", Tags: []string{"x"}, Args: h}, "tag"},
		{watch.Spec{Type: watch.TypeChecks, Args: h}, ""},
		{watch.Spec{Type: watch.TypeChecks, State: "critical", Args: h}, ""},
		{watch.Spec{Type: watch.TypeChecks, State: "broken", Args: h}, "state"},
		{watch.Spec{Type: watch.TypeChecks, State: "critical", Service: "web", Args: h}, "state"},
		{watch.Spec{Type: watch.TypeService, Service: "web", State: "any", Args: h}, "state"},
		{watch.Spec{Type: watch.TypeKey, Key: "a", Prefix: "b", Args: h}, "prefix"},
		{watch.Spec{Type: "", Args: h}, "type"},
		{watch.Spec{Type: "event", Args: h}, "type"},
		{watch.Spec{Type: watch.TypeKey, Key: "a"}, "args"},
		{watch.Spec{Type: watch.TypeKey, Key: "a", Args: []string{""}}, "args"},
		{watch.Spec{Type: watch.TypeKey, Key: "a", Args: h, Shell: "echo"}, "handler"},
		{watch.Spec{Type: watch.TypeKey, Key: "a", Args: h, Timeout: -1}, "timeout"},
		{watch.Spec{Type: watch.TypeKey, Key: "a", Args: h, WaitMin: 2 * time.Second, WaitMax: time.Second}, "wait.max"},
	}
	for _, c := range cases {
		err := c.spec.Validate()
		var fe *watch.FieldError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%+v: %v", c.spec, err)
		case c.field != "" && (!errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, watch.ErrInvalid)):
			t.Errorf("%+v: got %v, want an error on %s", c.spec, err, c.field)
		}
	}
}

// A watch reads with its token, under the API's ACL rules: a token that
// may read the key gets it; without one, the read is refused, logged and
// retried, and the handler never runs.
func TestWatchReadsWithItsToken(t *testing.T) {
	a := apitest.Start(t)
	res, err := acl.NewResolver(acl.Config{Tokens: []acl.Token{{Secret: "reader", Description: "app reader",
		Policy: acl.Compile(acl.Rules{KeyPrefix: map[string]acl.Access{"app/": acl.Read}})}}})
	if err != nil {
		t.Fatal(err)
	}
	a.SetACL(res)
	put(t, a, "app/k", "v")
	allowed, refused := t.TempDir(), t.TempDir()
	logs := &testutil.SyncBuffer{}
	clock := testutil.NewFakeClock(time.Unix(1_000_000, 0))
	start(t, a, watch.Config{Log: slog.New(slog.NewTextHandler(logs, nil)), Clock: clock},
		watch.Spec{Type: watch.TypeKey, Key: "app/k", Token: "reader", Args: recordingHandler(allowed)},
		watch.Spec{Type: watch.TypeKey, Key: "app/k", Args: recordingHandler(refused)})
	waitRuns(t, allowed, 1)
	if in, _ := input(t, allowed, 1); !strings.Contains(in, `"Key":"app/k"`) {
		t.Fatalf("the token's watch read %q", in)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(logs.String(), "403") {
			return errors.New("no refusal logged")
		}
		return nil
	})
	clock.WaitTimer(t, clock.Now().Add(watch.RetryBase)) // it retries after watch.RetryBase
	if n := runs(refused); n != 0 {
		t.Fatalf("the watch without a token ran its handler %d times", n)
	}
}

// watch.Config.Ready holds the first read back until it returns.
func TestReadyGatesTheFirstRead(t *testing.T) {
	a := apitest.Start(t)
	dir := t.TempDir()
	gate := make(chan struct{})
	asked := make(chan struct{})
	start(t, a, watch.Config{Ready: func(ctx context.Context) error {
		close(asked)
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}, watch.Spec{Type: watch.TypeKey, Key: "app/k", Args: recordingHandler(dir)})
	<-asked
	put(t, a, "app/k", "synced")
	if n := runs(dir); n != 0 {
		t.Fatalf("%d runs before Ready returned", n)
	}
	close(gate)
	waitRuns(t, dir, 1)
	if in, _ := input(t, dir, 1); !strings.Contains(in, `"Value":"c3luY2Vk"`) {
		t.Fatalf("the first run read %q", in)
	}
}

// A result whose JSON equals the one last handed over runs nothing: a
// check's new output moves the services listing's index, not its JSON.
func TestUnchangedResultRunsNothing(t *testing.T) {
	a := apitest.Start(t)
	apiDo(t, a, http.MethodPut, "/v1/agent/service/register", map[string]any{
		"ID": "web1", "Name": "web", "Check": map[string]any{"CheckID": "web1-ttl", "TTL": "10m"}})
	dir := t.TempDir()
	m := start(t, a, watch.Config{}, watch.Spec{Type: watch.TypeServices, Args: recordingHandler(dir)})
	waitRuns(t, dir, 1)
	apiDo(t, a, http.MethodPut, "/v1/agent/check/pass/web1-ttl?note=fine", nil)
	testutil.Eventually(t, 20*time.Second, func() error {
		if st := m.Status(); len(st) != 1 || st[0].Unchanged != 1 || st[0].Runs != 1 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	apiDo(t, a, http.MethodPut, "/v1/agent/service/register", map[string]any{"ID": "db", "Name": "db"})
	waitRuns(t, dir, 2)
	if in, _ := input(t, dir, 2); !strings.Contains(in, `"db":[]`) {
		t.Fatalf("the second run read %q", in)
	}
	if st := m.Status(); st[0].Runs != 2 || st[0].Failures != 0 || st[0].LastError != "" || st[0].Watch != "services" {
		t.Fatalf("status %+v", st)
	}
}
