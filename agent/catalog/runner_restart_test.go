package catalog

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/store"
)

// A restart runs the checks again from their definitions in the local
// bucket; the record holds only the type.
func TestRestartRunsChecks(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	srv := newStatusServer(t)
	st := openStore(t, dir)
	c := startCatalog(t, st, clock)
	body := `{"Name":"web","Check":{"HTTP":"` + srv.URL + `","Interval":"10s","Header":{"X-Key":["a"]},"DeregisterCriticalServiceAfter":"5m","FailuresBeforeCritical":2}}`
	register(t, c, body, false)
	want, _ := c.CheckByID("service:web")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st = openStore(t, dir)
	c2, err := New(Config{Store: st, Node: node, Clock: clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	armed := make(chan string, 16)
	c2.armed = func(id string) { armed <- id }
	if err := c2.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	r := &runners{Catalog: c2, clock: clock, st: st, armed: armed}
	got, _ := c2.CheckByID("service:web")
	if got.Active == nil || fmt.Sprint(*got.Active) != fmt.Sprint(*want.Active) || got.DeregisterCriticalServiceAfter != 5*time.Minute {
		t.Fatalf("after a restart %+v, want %+v", got, want)
	}
	r.waitArmed(t, "service:web")
	r.step(t, "service:web", 10*time.Second)
	wantRecord(t, st, "service:web", StatusPassing, "ok 1")
	var raw []byte
	_ = st.View(func(tx *store.Tx) error {
		e, _, err := tx.Get(Table, CheckKey(node, "service:web"))
		raw = e.Value
		return err
	})
	var fields map[int]any
	if err := cbor.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for k := range fields {
		if k < 1 || k > 7 {
			t.Fatalf("the replicated record has field %d: %v", k, fields)
		}
	}
	if strings.Contains(string(raw), "X-Key") {
		t.Fatalf("the replicated record holds the definition: %q", raw)
	}
}

// After a restart, a script check registered while
// enable_local_script_checks was on is not run when it is off: it stays
// critical and says why. A critical check's DeregisterCriticalServiceAfter
// counts from the start.
func TestRestartScriptsDisabled(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	cfg := func(st *store.Store, scripts bool) Config {
		return Config{Store: st, Node: node, Clock: clock, EnableLocalScriptChecks: scripts,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	}
	st := openStore(t, dir)
	c, err := New(cfg(st, true))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	reg, err := ParseRegistrationWith([]byte(`{"Name":"job","Check":{"Args":["/bin/true"],"Interval":"10s","Status":"passing",
		"DeregisterCriticalServiceAfter":"1m"}}`), ParseOptions{LocalScriptChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Register(reg, false); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st = openStore(t, dir)
	c, err = New(cfg(st, false))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantRecord(t, st, "service:job", StatusCritical, "Script checks are disabled")
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := len(clock.Pending()); n != 1 {
			return fmt.Errorf("%d timers, want the reaper's only: the script check must not run", n)
		}
		return nil
	})
	clock.Advance(59 * time.Second)
	if _, ok := c.Service("job"); !ok {
		t.Fatal("deregistered before its time")
	}
	clock.Advance(time.Second)
	waitDeregistered(t, c, st, "job")
}
