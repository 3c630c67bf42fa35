package replica

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/store"
)

// simTable is a table declared by these tests alone. The tests below prove
// that a table replicates, is repaired by anti-entropy, bootstraps, keeps
// its tombstones and horizon and survives a snapshot with no code beyond
// this declaration.
var simTable = store.DeclareTable("simtest")

// putIn writes key in table on n, as a local write.
func putIn(t testing.TB, n *simNode, table, key, value string) {
	t.Helper()
	var err error
	if table == store.TableKV {
		_, err = n.st.Put(key, []byte(value), 0)
	} else {
		err = n.st.Update(func(tx *store.Tx) error {
			_, err := tx.Put(table, key, []byte(value), 0)
			return err
		})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// deleteIn deletes key in table on n, as a local write.
func deleteIn(t testing.TB, n *simNode, table, key string) {
	t.Helper()
	var err error
	if table == store.TableKV {
		_, err = n.st.Delete(key, nil)
	} else {
		err = n.st.Update(func(tx *store.Tx) error {
			_, err := tx.Delete(table, key)
			return err
		})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// valueIn returns the live value of key in table on node, "" if absent.
func (s *simNet) valueIn(t testing.TB, node, table, key string) string {
	t.Helper()
	var e store.Entry
	var found bool
	err := s.nodes[node].st.View(func(tx *store.Tx) error {
		var err error
		e, found, err = tx.Get(table, key)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found || e.Deleted {
		return ""
	}
	return string(e.Value)
}

// sameEverywhere fails unless every node holds the records of the first,
// with the same digest root.
func (s *simNet) sameEverywhere(t testing.TB) {
	t.Helper()
	first := s.nodes[s.names[0]]
	want := contents(t, first.st)
	for _, name := range s.names[1:] {
		n := s.nodes[name]
		if got := contents(t, n.st); !recordsEqual(got, want) || n.st.DigestRoot() != first.st.DigestRoot() {
			t.Fatalf("%s holds %d records, %s %d", name, len(got), first.name, len(want))
		}
	}
}

// TestTableReplicates: writes and deletes in a declared table spread as
// kv ones do, by gossip when small and by push when large, and never show
// in kv, though the same key is written there.
func TestTableReplicates(t *testing.T) {
	s := newSimNet(t, 21, 3)
	n0 := s.nodes["n0"]
	putIn(t, n0, store.TableKV, "k", "kv value")
	putIn(t, n0, simTable, "k", "table value")
	s.drain()
	for _, name := range s.names {
		if got := s.valueIn(t, name, simTable, "k"); got != "table value" {
			t.Fatalf("%s: %q in %s", name, got, simTable)
		}
		if got := s.value(t, name, "k"); got != "kv value" {
			t.Fatalf("%s: kv k = %q", name, got)
		}
	}
	deleteIn(t, n0, simTable, "k")
	s.drain()
	s.sameEverywhere(t)
	if s.valueIn(t, "n2", simTable, "k") != "" || s.value(t, "n2", "k") != "kv value" {
		t.Fatal("the delete did not spread to its table alone")
	}

	large := strings.Repeat("x", 2*n0.r.cfg.MaxGossipDelta)
	putIn(t, n0, simTable, "large", large)
	s.spreadWrites()
	n0.r.pushQueued(context.Background())
	if n0.r.Stats().Pushed != 1 {
		t.Fatal("a large write was not pushed")
	}
	for _, name := range s.names {
		if s.valueIn(t, name, simTable, "large") != large {
			t.Fatalf("%s lacks the pushed record", name)
		}
	}
}

// TestTableAntiEntropy: with every gossip message lost, anti-entropy
// repairs a declared table as it repairs kv, both ways, and two nodes
// holding different versions of a key end with the later one.
func TestTableAntiEntropy(t *testing.T) {
	s := newSimNet(t, 22, 3)
	s.drop = 1
	for i := range 300 {
		n := s.nodes[s.names[i%3]]
		table := []string{store.TableKV, simTable}[i%2]
		putIn(t, n, table, fmt.Sprintf("k%03d", i%150), fmt.Sprint(n.name, i))
	}
	deleteIn(t, s.nodes["n1"], simTable, "k001")
	s.drain()
	if contents(t, s.nodes["n0"].st)[contentsKey(simTable, "k001")].Key != "" {
		t.Fatal("gossip was not dropped")
	}
	s.syncAll(t)
	s.syncAll(t)
	s.sameEverywhere(t)
	if got := s.valueIn(t, "n2", simTable, "k001"); got != "" {
		t.Fatalf("the later delete lost: %q", got)
	}
}

// TestTableBootstraps: a new node pulls kv and a declared table, in that
// order, from peers that hold thousands of records of each, also when the
// stream is cut at the end of kv or in the middle of the table: it
// resumes from the other peer where it stopped.
func TestTableBootstraps(t *testing.T) {
	for _, cut := range []struct {
		name  string
		after int
	}{{"uncut", 0}, {"cut after kv", 3}, {"cut in the table", 4}} {
		t.Run(cut.name, func(t *testing.T) {
			s := newSimNet(t, 23, 3)
			fresh, a, b := s.nodes["n0"], s.nodes["n1"], s.nodes["n2"]
			var recs []store.Record
			for _, table := range []string{store.TableKV, simTable} {
				for i := range 2500 { // three chunks each
					recs = append(recs, store.Record{Table: table, Key: fmt.Sprintf("cfg/%05d", i),
						Value: []byte(store.TableName(table)), Version: store.Stamp(100 + i), Origin: "n9"})
				}
			}
			s.seedSources(t, recs, a, b)
			s.cutAfter = cut.after
			var order []string
			s.tamper = func(msg any) {
				if c, ok := msg.(*BootstrapChunk); ok {
					order = append(order, store.TableName(c.Table))
				}
			}
			res, err := fresh.r.Bootstrap(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if order[0] != "kv" || order[len(order)-1] != simTable {
				t.Fatalf("chunks of tables %v: want kv first", order)
			}
			wantPeers := 1
			if cut.after > 0 {
				wantPeers = 2
			}
			if len(res.Peers) != wantPeers || res.Records != len(recs) || res.Applied != len(recs) {
				t.Fatalf("bootstrap = %+v: want %d peers and no record fetched twice", res, wantPeers)
			}
			s.sameEverywhere(t)
		})
	}
}

// TestTableBootstrapForgetsInItsTable: a stale node's bootstrap forgets,
// in a declared table as in kv, the records its source lacks (here: one
// whose delete the source collected), and only within the table: the
// same key in kv stays.
func TestTableBootstrapForgetsInItsTable(t *testing.T) {
	s := newSimNet(t, 24, 2)
	x, a := s.nodes["n0"], s.nodes["n1"]
	putIn(t, a, simTable, "gone", "collected elsewhere")
	putIn(t, a, store.TableKV, "gone", "kept")
	s.drain()
	s.syncAll(t)
	if s.valueIn(t, x.name, simTable, "gone") == "" {
		t.Fatal("the record did not reach X")
	}
	// The source lost the table's record, as after collecting its
	// delete, and X learns it was away past the horizon.
	if _, forgot, err := a.st.MergeRange(simTable, "", "", nil, func(*store.Record) bool { return true }); err != nil || forgot != 1 {
		t.Fatalf("MergeRange = %d, %v", forgot, err)
	}
	x.r.stale.Store(true)
	res, err := x.r.Bootstrap(context.Background())
	if err != nil || res.Forgotten != 1 {
		t.Fatalf("bootstrap = %+v, %v: want the table's record forgotten", res, err)
	}
	if s.valueIn(t, x.name, simTable, "gone") != "" || s.value(t, x.name, "gone") != "kept" {
		t.Fatal("the bootstrap forgot outside the table, or not in it")
	}
	s.sameEverywhere(t)
}

// TestTableSnapshotRestore: a snapshot holds a declared table; restored on
// a node of another mesh, its records spread from the store's feed to the
// others as the records of a local write do.
func TestTableSnapshotRestore(t *testing.T) {
	src := newSimNet(t, 25, 1).nodes["n0"]
	putIn(t, src, store.TableKV, "a", "kv")
	putIn(t, src, simTable, "a", "table")
	putIn(t, src, simTable, "b", "deleted")
	deleteIn(t, src, simTable, "b")
	var snap bytes.Buffer
	if n, err := src.st.Snapshot(&snap); err != nil || n != 3 {
		t.Fatalf("Snapshot = %d, %v", n, err)
	}
	s := newSimNet(t, 26, 3)
	if n, err := s.nodes["n1"].st.Restore(&snap); err != nil || n != 3 {
		t.Fatalf("Restore = %d, %v", n, err)
	}
	s.drain()
	for _, name := range s.names {
		if got := contents(t, s.nodes[name].st); !recordsEqual(got, contents(t, src.st)) {
			t.Fatalf("%s holds %d records after the restore, want %d", name, len(got), 3)
		}
	}
}

// TestRunFollowsFeed: Run spreads the store's local writes from the feed,
// runs an anti-entropy round when the feed dropped changes, and its feed
// goroutine has ended when it returns.
func TestRunFollowsFeed(t *testing.T) {
	s := newSimNet(t, 27, 1)
	n := s.nodes["n0"]
	putIn(t, n, store.TableKV, "data", "v") // not a new node: no bootstrap
	gossiped := make(chan string, 16)
	calls := make(chan string, 16)
	feed := n.st.Subscribe("run", 1, FeedSources...)
	r := New(Config{Store: n.st, Feed: feed, Self: "n0", Caller: recordingCaller(calls),
		Broadcast: func(name string, _ []byte) { gossiped <- name },
		Peers:     func() []Peer { return []Peer{{Name: "n1", Addr: "n1"}} }, Log: n.r.cfg.Log})
	putIn(t, n, store.TableKV, "before", "v") // queued before Run
	putIn(t, n, store.TableKV, "dropped", "v")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	if got := <-calls; got != MethodDigest {
		t.Fatalf("the feed's resync made a %s call, want an anti-entropy round", got)
	}
	putIn(t, n, simTable, "after", "v")
	if got := <-gossiped; got != "after" {
		t.Fatalf("gossiped %q, want the write made after the drop", got)
	}
	cancel()
	<-done
	putIn(t, n, store.TableKV, "stopped", "v")
	if changes, _ := feed.Poll(); len(changes) != 1 {
		t.Fatalf("the feed was read after Run returned: %d changes left", len(changes))
	}
}

// recordingCaller names each call's method on its channel and fails it.
type recordingCaller chan string

func (c recordingCaller) Call(_ context.Context, _ Peer, method string, _, _ any) error {
	c <- method
	return errCut
}
