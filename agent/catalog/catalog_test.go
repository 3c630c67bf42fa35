package catalog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/store"
)

const node = "node-a"

// fakeClock is a Clock that moves only when Advance is called.
type fakeClock = testutil.FakeClock

func newFakeClock() *fakeClock {
	return testutil.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

// openStore opens a store in dir, closed at cleanup (after what the
// test registered later).
func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// startCatalog builds and starts a catalog over st, closed at cleanup.
func startCatalog(t *testing.T, st *store.Store, clock Clock) *Catalog {
	t.Helper()
	c, err := New(Config{Store: st, Node: node, Clock: clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func register(t *testing.T, c *Catalog, body string, replace bool) {
	t.Helper()
	reg, err := ParseRegistration([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Register(reg, replace); err != nil {
		t.Fatal(err)
	}
}

// recordCheck reads a check's record from Table.
func recordCheck(t *testing.T, st *store.Store, id string) (Check, bool) {
	t.Helper()
	var c Check
	var live bool
	err := st.View(func(tx *store.Tx) error {
		e, found, err := tx.Get(Table, CheckKey(node, id))
		if err != nil || !found || e.Deleted {
			return err
		}
		live = true
		c, err = DecodeCheck(e.Value)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, live
}

func recordStatus(t *testing.T, st *store.Store, id, want string) error {
	c, ok := recordCheck(t, st, id)
	if !ok || c.Status != want {
		return fmt.Errorf("check %s: record %+v (live %v), want status %s", id, c, ok, want)
	}
	return nil
}

func TestTTLExpires(t *testing.T) {
	st := openStore(t, t.TempDir())
	clock := newFakeClock()
	c := startCatalog(t, st, clock)
	register(t, c, `{"Name":"web","Check":{"TTL":"10s"}}`, false)
	if err := recordStatus(t, st, "service:web", StatusCritical); err != nil {
		t.Fatalf("a new check starts critical: %v", err)
	}
	if err := c.UpdateTTL("service:web", StatusPassing, "ok"); err != nil {
		t.Fatal(err)
	}
	if err := recordStatus(t, st, "service:web", StatusPassing); err != nil {
		t.Fatal(err)
	}
	clock.Advance(9 * time.Second)
	if err := c.UpdateTTL("service:web", StatusPassing, "ok"); err != nil { // deadline: +19s
		t.Fatal(err)
	}
	clock.Advance(5 * time.Second)
	if err := recordStatus(t, st, "service:web", StatusPassing); err != nil {
		t.Fatal(err)
	}
	clock.Advance(6 * time.Second)
	testutil.Eventually(t, 10*time.Second, func() error { return recordStatus(t, st, "service:web", StatusCritical) })
	got, _ := c.CheckByID("service:web")
	if !strings.HasPrefix(got.Output, "TTL expired") || !strings.HasSuffix(got.Output, "ok") {
		t.Fatalf("output after expiry %q", got.Output)
	}
	if err := c.UpdateTTL("missing", StatusPassing, ""); !errors.Is(err, ErrUnknownCheck) {
		t.Fatalf("UpdateTTL(missing) = %v", err)
	}
	if err := c.UpdateTTL("service:web", "ok", ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("UpdateTTL(status ok) = %v", err)
	}
}

// A status change is written at once; the same status with another output
// waits for CheckUpdateInterval, and the API reports it meanwhile.
func TestOutputWriteEconomy(t *testing.T) {
	st := openStore(t, t.TempDir())
	clock := newFakeClock()
	c := startCatalog(t, st, clock)
	register(t, c, `{"Name":"web","Check":{"TTL":"1h","Status":"passing"}}`, false)
	before := st.Index()
	for i := range 10 {
		clock.Advance(time.Second)
		if err := c.UpdateTTL("service:web", StatusPassing, fmt.Sprint("load ", i)); err != nil {
			t.Fatal(err)
		}
	}
	if st.Index() != before {
		t.Fatalf("output-only updates wrote records: index %d -> %d", before, st.Index())
	}
	if rec, _ := recordCheck(t, st, "service:web"); rec.Output != "" {
		t.Fatalf("record output %q before the interval", rec.Output)
	}
	if got, _ := c.CheckByID("service:web"); got.Output != "load 9" {
		t.Fatalf("the API reports %q", got.Output)
	}
	clock.Advance(DefaultCheckUpdateInterval)
	testutil.Eventually(t, 10*time.Second, func() error {
		if rec, _ := recordCheck(t, st, "service:web"); rec.Output != "load 9" {
			return fmt.Errorf("record output %q", rec.Output)
		}
		return nil
	})
	if err := c.UpdateTTL("service:web", StatusWarning, "slow"); err != nil {
		t.Fatal(err)
	}
	if rec, _ := recordCheck(t, st, "service:web"); rec.Status != StatusWarning || rec.Output != "slow" {
		t.Fatalf("a status change is not written at once: %+v", rec)
	}
}

// A restart keeps the registrations and an unexpired TTL check passing;
// one that expired while the agent was down is critical, and stays so.
func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	cfg := func(st *store.Store) Config {
		return Config{Store: st, Node: node, Clock: clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	}
	st := openStore(t, dir)
	c, err := New(cfg(st))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	register(t, c, `{"Name":"web","Port":80,"Check":{"TTL":"1m"}}`, false)
	register(t, c, `{"Name":"db","Check":{"TTL":"10s"}}`, false)
	clock.Advance(20 * time.Second)
	// Refreshes within the interval are not written; Close writes them.
	for _, id := range []string{"service:web", "service:db"} {
		if err := c.UpdateTTL(id, StatusPassing, "fine"); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(5 * time.Second)
	if err := c.UpdateTTL("service:web", StatusPassing, "fine"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	st.Close()

	clock.Advance(30 * time.Second) // web: 30s left; db: expired 20s ago
	for range 2 {
		st = openStore(t, dir)
		c, err = New(cfg(st))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		if in, ok := c.Service("web"); !ok || in.Port != 80 {
			t.Fatalf("web after a restart: %+v, %v", in, ok)
		}
		if err := recordStatus(t, st, "service:web", StatusPassing); err != nil {
			t.Fatal(err)
		}
		if err := recordStatus(t, st, "service:db", StatusCritical); err != nil {
			t.Fatal(err)
		}
		if got, _ := c.CheckByID("service:db"); got.Status != StatusCritical {
			t.Fatalf("db reported %+v", got)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
}

// Re-registering updates in place: no tombstone, the check keeps its
// status; with replace-existing-checks, checks left out are removed.
func TestReregisterInPlace(t *testing.T) {
	st := openStore(t, t.TempDir())
	c := startCatalog(t, st, newFakeClock())
	register(t, c, `{"Name":"web","Checks":[{"TTL":"1m","CheckID":"a"},{"TTL":"1m","CheckID":"b"}]}`, false)
	if err := c.UpdateTTL("a", StatusPassing, ""); err != nil {
		t.Fatal(err)
	}
	sub := st.Subscribe("test", 100)
	defer sub.Close()
	register(t, c, `{"Name":"web","Tags":["v2"],"Check":{"TTL":"1m","CheckID":"a"}}`, false)
	if in, _ := c.Service("web"); !slices.Equal(in.Tags, []string{"v2"}) {
		t.Fatalf("web %+v", in)
	}
	if err := recordStatus(t, st, "a", StatusPassing); err != nil {
		t.Fatal(err)
	}
	if _, ok := recordCheck(t, st, "b"); !ok {
		t.Fatal("check b removed without replace-existing-checks")
	}
	changes, _ := sub.Poll()
	for _, ch := range changes {
		if ch.Deleted {
			t.Fatalf("re-registering wrote a tombstone: %s", ch.Key)
		}
	}
	register(t, c, `{"Name":"web","Check":{"TTL":"1m","CheckID":"a"}}`, true)
	if _, ok := recordCheck(t, st, "b"); ok {
		t.Fatal("check b kept with replace-existing-checks")
	}
	reg, _ := ParseRegistration([]byte(`{"Name":"db","Check":{"TTL":"1m","CheckID":"a"}}`))
	if err := c.Register(reg, false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a check ID of another service: %v", err)
	}
}

func TestDeregister(t *testing.T) {
	st := openStore(t, t.TempDir())
	c := startCatalog(t, st, newFakeClock())
	register(t, c, `{"Name":"web","Checks":[{"TTL":"1m"},{"TTL":"1m"}]}`, false)
	if err := c.Deregister("web"); err != nil {
		t.Fatal(err)
	}
	if err := c.Deregister("web"); !errors.Is(err, ErrUnknownService) {
		t.Fatalf("second Deregister = %v", err)
	}
	err := st.View(func(tx *store.Tx) error {
		n := 0
		err := tx.Scan(Table, "", func(e *store.Entry) error {
			n++
			if !e.Deleted {
				return fmt.Errorf("%s not a tombstone", e.Key)
			}
			return nil
		})
		if err == nil && n != 3 {
			err = fmt.Errorf("%d records, want 3 tombstones", n)
		}
		if err == nil {
			err = tx.Local(localBucket).Scan("", func(k string, _ []byte) error { return fmt.Errorf("local %s kept", k) })
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Services()) != 0 || len(c.Checks()) != 0 {
		t.Fatal("the catalog still reports the service")
	}
}

// Start removes records of this node that its local state does not hold,
// and writes nothing when the two agree.
func TestStartReconciles(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	ghost, _ := EncodeInstance(&Instance{ID: "ghost", Name: "ghost", Weights: DefaultWeights})
	err := st.Update(func(tx *store.Tx) error {
		_, err := tx.Put(Table, ServiceKey(node, "ghost"), ghost, 0)
		if err == nil {
			_, err = tx.Put(Table, ServiceKey("node-b", "other"), ghost, 0)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	c, err := New(Config{Store: st, Node: node, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	register(t, c, `{"Name":"web","Check":{"TTL":"1m"}}`, false)
	c.Close()
	err = st.View(func(tx *store.Tx) error {
		if e, _, _ := tx.Get(Table, ServiceKey(node, "ghost")); !e.Deleted {
			return errors.New("ghost kept")
		}
		if e, _, _ := tx.Get(Table, ServiceKey("node-b", "other")); e.Deleted {
			return errors.New("another node's record deleted")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before := st.Index()
	c, err = New(Config{Store: st, Node: node, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if st.Index() != before {
		t.Fatalf("a restart with nothing to change wrote records: index %d -> %d", before, st.Index())
	}
	st.Close()
}

func TestConfigValidate(t *testing.T) {
	st := openStore(t, t.TempDir())
	for _, cfg := range []Config{{Node: node}, {Store: st}, {Store: st, Node: "a/b"}, {Store: st, Node: node, CheckUpdateInterval: -1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// A record of this node that another node overwrites, or adds under this
// node's name, is written back or removed: local state is authoritative.
// Repairs come at most every repairEvery.
func TestRepairsRecordsChangedElsewhere(t *testing.T) {
	st := openStore(t, t.TempDir())
	clock := newFakeClock()
	c := startCatalog(t, st, clock)
	register(t, c, `{"Name":"web","Check":{"TTL":"1h","Status":"passing"}}`, false)
	forge := func() {
		t.Helper()
		var top store.Stamp
		_ = st.View(func(tx *store.Tx) error {
			return tx.Scan(Table, "", func(e *store.Entry) error {
				top = max(top, e.Version)
				return nil
			})
		})
		critical, _ := EncodeCheck(&Check{ID: "service:web", Name: "n", ServiceID: "web", Type: CheckTypeTTL, Status: StatusCritical})
		evil, _ := EncodeInstance(&Instance{ID: "evil", Name: "evil", Weights: DefaultWeights})
		_, err := st.Apply([]store.Record{
			{Table: Table, Key: CheckKey(node, "service:web"), Value: critical, Version: top + 1, Origin: "other-node"},
			{Table: Table, Key: ServiceKey(node, "evil"), Value: evil, Version: top + 1, Origin: "other-node"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := recordStatus(t, st, "service:web", StatusCritical); err != nil {
			t.Fatalf("the forged record did not apply: %v", err)
		}
	}
	repaired := func() error {
		if err := recordStatus(t, st, "service:web", StatusPassing); err != nil {
			return err
		}
		return st.View(func(tx *store.Tx) error {
			if e, _, _ := tx.Get(Table, ServiceKey(node, "evil")); !e.Deleted {
				return errors.New("the forged instance is live")
			}
			return nil
		})
	}
	forge()
	testutil.Eventually(t, 10*time.Second, repaired)
	forge()
	clock.Advance(repairEvery)
	testutil.Eventually(t, 10*time.Second, repaired)
}

// A record written by a newer version, with a field this one does not
// know, still decodes: during a rolling upgrade old readers keep serving
// new writers' records.
func TestRecordsOfANewerVersionDecode(t *testing.T) {
	type newerCheck struct {
		Check
		Extra string `cbor:"40,keyasint"`
	}
	b, err := recordEnc.Marshal(newerCheck{Check: Check{ID: "service:web", Name: "web", ServiceID: "web", Type: CheckTypeTTL, Status: StatusPassing}, Extra: "x"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := DecodeCheck(b)
	if err != nil || c.ID != "service:web" || c.Status != StatusPassing {
		t.Fatalf("DecodeCheck(newer record) = %+v, %v", c, err)
	}
}
