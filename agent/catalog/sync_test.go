package catalog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/store"
)

// startCatalogWith builds and starts a catalog from cfg (Store, Clock
// and Node filled in), closed at cleanup.
func startCatalogWith(t *testing.T, st *store.Store, clock Clock, cfg Config) *Catalog {
	t.Helper()
	cfg.Store, cfg.Node, cfg.Clock = st, node, clock
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func configReg(t *testing.T, body string) Registration {
	t.Helper()
	reg, err := ParseRegistrationWith([]byte(body), ParseOptions{Source: SourceConfig})
	if err != nil {
		t.Fatal(err)
	}
	if reg.Source != SourceConfig {
		t.Fatalf("Source %v", reg.Source)
	}
	return reg
}

// liveRecord reports whether Table holds a live record at key.
func liveRecord(t *testing.T, st *store.Store, key string) bool {
	t.Helper()
	live := false
	err := st.View(func(tx *store.Tx) error {
		e, found, err := tx.Get(Table, key)
		live = found && !e.Deleted
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return live
}

// tombstoneAsRemote writes a tombstone of key as another node would: a
// record merged through Apply, stamped after the one held.
func tombstoneAsRemote(t *testing.T, st *store.Store, key string) {
	t.Helper()
	var v store.Stamp
	_ = st.View(func(tx *store.Tx) error {
		e, _, err := tx.Get(Table, key)
		v = e.Version
		return err
	})
	if _, err := st.Apply([]store.Record{{Table: Table, Key: key, Version: v + 1, Origin: "other-node", Deleted: true}}); err != nil {
		t.Fatal(err)
	}
	if liveRecord(t, st, key) {
		t.Fatal("the tombstone did not apply")
	}
}

// Configured services are registered at start, kept across a restart,
// and the local bucket remembers they came from the configuration, so
// that a later SetConfigServices removes those dropped and leaves API
// registrations alone.
func TestConfigServices(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	clock := newFakeClock()
	web := configReg(t, `{"ID":"web","Name":"web","Port":80,"Check":{"TTL":"1m"}}`)
	db := configReg(t, `{"ID":"db","Name":"db","Port":5432}`)
	c := startCatalogWith(t, st, clock, Config{Services: []Registration{web, db}})
	register(t, c, `{"ID":"api-svc","Name":"api-svc"}`, false)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart with an unchanged configuration keeps everything.
	c = startCatalogWith(t, st, clock, Config{Services: []Registration{web, db}})
	for _, id := range []string{"web", "db", "api-svc"} {
		if _, ok := c.Service(id); !ok || !liveRecord(t, st, ServiceKey(node, id)) {
			t.Fatalf("service %s lost across a restart", id)
		}
	}
	ids, err := c.ConfigServices()
	if err != nil || fmt.Sprint(ids) != "[db web]" {
		t.Fatalf("ConfigServices = %v, %v", ids, err)
	}

	// A reload: web changes, db goes, cache comes; api-svc stays.
	web2 := configReg(t, `{"ID":"web","Name":"web","Port":8080}`)
	cache := configReg(t, `{"ID":"cache","Name":"cache"}`)
	if err := c.SetConfigServices([]Registration{web2, cache}); err != nil {
		t.Fatal(err)
	}
	if in, _ := c.Service("web"); in.Port != 8080 {
		t.Errorf("web not updated: %+v", in)
	}
	if _, ok := c.CheckByID("service:web"); ok {
		t.Error("web's check, gone from its definition, stays")
	}
	if _, ok := c.Service("db"); ok || liveRecord(t, st, ServiceKey(node, "db")) {
		t.Error("db, removed from the configuration, stays")
	}
	for _, id := range []string{"cache", "api-svc"} {
		if _, ok := c.Service(id); !ok {
			t.Errorf("service %s missing", id)
		}
	}

	// A configured service deregistered through the API stays so until
	// the next reload, which brings it back.
	if err := c.Deregister("cache"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetConfigServices([]Registration{web2, cache}); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Service("cache"); !ok {
		t.Error("the reload did not bring back cache")
	}
	// An API registration of a configured ID takes it over: a reload
	// that drops the definition leaves it.
	register(t, c, `{"ID":"cache","Name":"cache","Port":1}`, false)
	if err := c.SetConfigServices([]Registration{web2}); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Service("cache"); !ok {
		t.Error("an API registration was removed by a reload")
	}
	if ids, _ := c.ConfigServices(); fmt.Sprint(ids) != "[web]" {
		t.Errorf("ConfigServices = %v", ids)
	}
}

// A record of this node deleted behind its back, by a tombstone that
// arrives as from another node, is written back within one
// SyncInterval even when the change feed did not report it (resync
// lost, a restore), by anti-entropy on the catalog's clock.
func TestAntiEntropyRewritesDeletedRecords(t *testing.T) {
	st := openStore(t, t.TempDir())
	clock := newFakeClock()
	c := startCatalogWith(t, st, clock, Config{SyncInterval: time.Minute})
	register(t, c, `{"Name":"web","Check":{"TTL":"1h","Status":"passing"}}`, false)
	// The repair of changes from elsewhere waits for the feed: close the
	// subscription, so that only anti-entropy is left.
	c.sub.Close()
	tombstoneAsRemote(t, st, ServiceKey(node, "web"))
	tombstoneAsRemote(t, st, CheckKey(node, "service:web"))
	clock.Advance(time.Minute)
	testutil.Eventually(t, 10*time.Second, func() error {
		if !liveRecord(t, st, ServiceKey(node, "web")) || !liveRecord(t, st, CheckKey(node, "service:web")) {
			return errors.New("records not written back")
		}
		return nil
	})
}

// A wiped data dir (an empty local bucket) with the same node name: the
// instances the old one registered, which the replica still holds
// (another node's copy replicated back), become tombstones at start.
func TestWipedBucketRemovesStaleInstances(t *testing.T) {
	st := openStore(t, t.TempDir())
	old, _ := EncodeInstance(&Instance{ID: "stale", Name: "stale", Weights: DefaultWeights})
	chk, _ := EncodeCheck(&Check{ID: "service:stale", Name: "c", ServiceID: "stale", Type: CheckTypeTTL, Status: StatusPassing})
	if _, err := st.Apply([]store.Record{
		{Table: Table, Key: ServiceKey(node, "stale"), Value: old, Version: 1, Origin: "elsewhere"},
		{Table: Table, Key: CheckKey(node, "service:stale"), Value: chk, Version: 1, Origin: "elsewhere"},
	}); err != nil {
		t.Fatal(err)
	}
	startCatalogWith(t, st, newFakeClock(), Config{})
	if liveRecord(t, st, ServiceKey(node, "stale")) || liveRecord(t, st, CheckKey(node, "service:stale")) {
		t.Fatal("the stale instance of the wiped bucket stays")
	}
}

// A reaped node's records are tombstoned by whoever saw the reap; when
// the node comes back its re-stamp wins over those tombstones, whichever
// order the replicas exchange them in.
func TestRemoveNodeAndRestamp(t *testing.T) {
	for _, tombstonesFirst := range []bool{true, false} {
		t.Run(fmt.Sprint("tombstones first ", tombstonesFirst), func(t *testing.T) {
			owner := openStore(t, t.TempDir())
			// The other replica's clock runs a second behind: its
			// tombstones are older than the owner's re-stamp in any run.
			other, err := store.Open(t.TempDir(), store.Options{Wall: lagging{time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })
			clock := newFakeClock()
			c := startCatalogWith(t, owner, clock, Config{})
			register(t, c, `{"Name":"web","Check":{"TTL":"1h","Status":"passing"}}`, false)
			copyTable(t, owner, other)

			reaper := &Catalog{cfg: Config{Store: other, Node: "node-b"}}
			n, err := reaper.RemoveNode(node)
			if err != nil || n != 2 {
				t.Fatalf("RemoveNode = %d, %v", n, err)
			}
			if _, err := reaper.RemoveNode("node-b"); !errors.Is(err, ErrOwnNode) {
				t.Errorf("RemoveNode of itself: %v", err)
			}
			if liveRecord(t, other, ServiceKey(node, "web")) {
				t.Fatal("the reaper's replica still shows the instance")
			}
			if tombstonesFirst {
				copyTable(t, other, owner)
			}
			if err := c.Restamp(); err != nil {
				t.Fatal(err)
			}
			copyTable(t, owner, other)
			copyTable(t, other, owner)
			for _, st := range []*store.Store{owner, other} {
				if !liveRecord(t, st, ServiceKey(node, "web")) || !liveRecord(t, st, CheckKey(node, "service:web")) {
					t.Fatal("the tombstones of the reap won over the re-stamp")
				}
			}
		})
	}
}

// lagging is a wall clock behind the system's.
type lagging struct{ by time.Duration }

func (l lagging) Now() time.Time { return time.Now().Add(-l.by) }

// copyTable merges every record of Table in from into to, as replication
// does.
func copyTable(t *testing.T, from, to *store.Store) {
	t.Helper()
	var recs []store.Record
	err := from.View(func(tx *store.Tx) error {
		return tx.Scan(Table, "", func(e *store.Entry) error {
			recs = append(recs, e.Record)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := to.Apply(recs); err != nil {
		t.Fatal(err)
	}
}

// Maintenance adds and removes critical checks with Consul's IDs, names
// and notes, kept across a restart.
func TestMaintenance(t *testing.T) {
	st := openStore(t, t.TempDir())
	clock := newFakeClock()
	c := startCatalogWith(t, st, clock, Config{})
	register(t, c, `{"Name":"web"}`, false)

	if err := c.EnableNodeMaintenance(""); err != nil {
		t.Fatal(err)
	}
	if err := c.EnableServiceMaintenance("web", "upgrading"); err != nil {
		t.Fatal(err)
	}
	if err := c.EnableServiceMaintenance("nope", ""); !errors.Is(err, ErrUnknownService) {
		t.Errorf("unknown service: %v", err)
	}
	if err := c.DisableServiceMaintenance("nope"); !errors.Is(err, ErrUnknownService) {
		t.Errorf("unknown service: %v", err)
	}
	huge := make([]byte, MaxMaintReason+1)
	for i := range huge {
		huge[i] = 'x'
	}
	if err := c.EnableNodeMaintenance(string(huge)); !errors.Is(err, ErrInvalid) {
		t.Errorf("huge reason: %v", err)
	}
	// Enabling again keeps the first reason, as Consul.
	if err := c.EnableServiceMaintenance("web", "other"); err != nil {
		t.Fatal(err)
	}
	// A re-registration replacing its checks keeps maintenance.
	register(t, c, `{"Name":"web","Port":1}`, true)
	if err := c.UpdateTTL(NodeMaintCheckID, StatusPassing, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("reporting a maintenance check: %v", err)
	}
	// A check registered under a maintenance ID is not taken for one.
	register(t, c, `{"Name":"squat","Check":{"CheckID":"_service_maintenance:squat","TTL":"1m"}}`, false)
	if err := c.EnableServiceMaintenance("squat", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("maintenance over a squatted check ID: %v", err)
	}
	if err := c.Deregister("squat"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c = startCatalogWith(t, st, clock, Config{})
	want := map[string]Check{
		NodeMaintCheckID: {ID: NodeMaintCheckID, Name: "Node Maintenance Mode", Type: CheckTypeMaintenance,
			Status: StatusCritical, Notes: DefaultNodeMaintReason},
		"_service_maintenance:web": {ID: "_service_maintenance:web", Name: "Service Maintenance Mode", ServiceID: "web",
			Type: CheckTypeMaintenance, Status: StatusCritical, Notes: "upgrading"},
	}
	for id, w := range want {
		cs, ok := c.CheckByID(id)
		if !ok || cs.Check != w {
			t.Errorf("after a restart, check %s = %+v (%v), want %+v", id, cs.Check, ok, w)
		}
		rec, live := recordCheck(t, st, id)
		if !live || rec != w {
			t.Errorf("record %s = %+v (%v), want %+v", id, rec, live, w)
		}
	}
	// Maintenance checks read back through Read, the node's with no
	// service.
	snap, err := c.Read(t.Context(), 0)
	if err != nil || snap.Malformed != 0 || len(snap.Checks) != 2 {
		t.Errorf("Read: %+v, %v", snap, err)
	}
	clock.Advance(2 * time.Hour) // maintenance never expires
	if err := c.DisableNodeMaintenance(); err != nil {
		t.Fatal(err)
	}
	if err := c.DisableServiceMaintenance("web"); err != nil {
		t.Fatal(err)
	}
	for id := range want {
		if _, ok := c.CheckByID(id); ok {
			t.Errorf("check %s stays", id)
		}
		if _, live := recordCheck(t, st, id); live {
			t.Errorf("record %s stays", id)
		}
	}
}

// Anti-entropy writes what the local bucket holds, the records as last
// written: an output held back by CheckUpdateInterval stays held back,
// and when nothing was lost it writes nothing at all.
func TestSyncKeepsWriteEconomy(t *testing.T) {
	st := openStore(t, t.TempDir())
	clock := newFakeClock()
	c := startCatalogWith(t, st, clock, Config{})
	register(t, c, `{"Name":"web","Check":{"TTL":"1h","Status":"passing"}}`, false)
	if err := c.UpdateTTL("service:web", StatusPassing, "first"); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateTTL("service:web", StatusPassing, "held back"); err != nil {
		t.Fatal(err)
	}
	before := st.Index()
	if err := c.Sync(); err != nil {
		t.Fatal(err)
	}
	if st.Index() != before {
		t.Errorf("a sync with nothing lost wrote: index %d → %d", before, st.Index())
	}
	if rec, _ := recordCheck(t, st, "service:web"); rec.Output != "" {
		t.Errorf("the sync wrote the held-back output: %+v", rec)
	}
	// A lost record comes back as last written (the repair the change
	// feed would trigger is left out).
	c.sub.Close()
	tombstoneAsRemote(t, st, CheckKey(node, "service:web"))
	if err := c.Sync(); err != nil {
		t.Fatal(err)
	}
	if rec, live := recordCheck(t, st, "service:web"); !live || rec.Status != StatusPassing || rec.Output != "" {
		t.Errorf("after a sync: %+v (live %v)", rec, live)
	}
}
