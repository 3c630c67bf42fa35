package replica

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/store"
)

// inboxNode is one replica over a store of its own, whose broadcasts are
// recorded (safe for the merge loop's goroutine).
type inboxNode struct {
	st *store.Store
	r  *Replica

	mu         sync.Mutex
	broadcasts []Record // the records gossiped, in order
}

func newInboxNode(t *testing.T) *inboxNode {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n := &inboxNode{st: st}
	n.r = New(Config{
		Store: st, Self: "n0",
		Broadcast: func(_ string, payload []byte) {
			d, _, err := DecodeDelta(payload)
			if err != nil {
				t.Errorf("broadcast of an undecodable delta: %v", err)
				return
			}
			n.mu.Lock()
			n.broadcasts = append(n.broadcasts, d.Records...)
			n.mu.Unlock()
		},
		Peers: func() []Peer { return nil },
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	return n
}

func (n *inboxNode) passed() []Record {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Record(nil), n.broadcasts...)
}

// gossip delivers recs to n as one gossiped delta.
func (n *inboxNode) gossip(t *testing.T, recs ...store.Record) {
	t.Helper()
	w := make([]Record, len(recs))
	for i := range recs {
		w[i] = toWire(&recs[i])
	}
	b, err := EncodeDelta(w)
	if err != nil {
		t.Fatal(err)
	}
	n.r.HandleGossip(b)
}

// startLoop runs n's merge loop until the test ends or the returned stop
// is called, which waits for it.
func (n *inboxNode) startLoop(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { n.r.mergeLoop(ctx) })
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if cond() {
			return nil
		}
		return errors.New("waiting for " + what)
	})
}

func rec(key string, version int, value string) store.Record {
	return store.Record{Key: key, Value: []byte(value), Version: store.Stamp(version), Origin: "n9"}
}

// TestGossipedDeltasShareACommit: deltas that arrive while the merge loop
// is busy are merged in one store commit, each record that was new is
// passed on once, and the counters count each record.
func TestGossipedDeltasShareACommit(t *testing.T) {
	n := newInboxNode(t)
	n.r.inbox.open() // the loop runs, but has not taken anything yet
	for i := range 5 {
		n.gossip(t, rec("cfg/"+strconv.Itoa(i), 100+i, "v"))
	}
	n.gossip(t, rec("cfg/0", 100, "v")) // a duplicate, in the same batch
	before := n.st.Stats().Commits.Count
	n.startLoop(t)
	waitFor(t, "the records to be merged", func() bool { return n.r.Stats().Applied+n.r.Stats().Duplicate == 6 })
	if got := n.st.Stats().Commits.Count - before; got != 1 {
		t.Errorf("6 records queued together took %d commits, want 1", got)
	}
	if st := n.r.Stats(); st.Applied != 5 || st.Duplicate != 1 {
		t.Errorf("stats %+v: want 5 applied, 1 duplicate", st)
	}
	waitFor(t, "the new records to be passed on", func() bool { return len(n.passed()) == 5 })
	if got := len(contents(t, n.st)); got != 5 {
		t.Errorf("store holds %d records, want 5", got)
	}
}

// TestTwoVersionsInOneBatch: two versions of a key merged in one commit
// leave the newer one, in whichever order they arrived, and only those
// that were new when they were merged are passed on.
func TestTwoVersionsInOneBatch(t *testing.T) {
	n := newInboxNode(t)
	n.r.inbox.open()
	n.gossip(t, rec("a", 200, "new"))
	n.gossip(t, rec("a", 100, "old")) // loses to the one before it
	n.gossip(t, rec("b", 100, "old"))
	n.gossip(t, rec("b", 200, "new")) // replaces the one before it
	before := n.st.Stats().Commits.Count
	n.startLoop(t)
	waitFor(t, "the records to be merged", func() bool { return n.r.Stats().Applied+n.r.Stats().Duplicate == 4 })
	if got := n.st.Stats().Commits.Count - before; got != 1 {
		t.Errorf("4 records queued together took %d commits, want 1", got)
	}
	got := contents(t, n.st)
	for _, k := range []string{"a", "b"} {
		if r := got[k]; r.Version != 200 || string(r.Value) != "new" {
			t.Errorf("%s holds %s at %d, want new at 200", k, r.Value, r.Version)
		}
	}
	if st := n.r.Stats(); st.Applied != 3 || st.Duplicate != 1 {
		t.Errorf("stats %+v: want 3 applied, 1 duplicate", st)
	}
	waitFor(t, "3 records passed on", func() bool { return len(n.passed()) == 3 })
	var passed []string
	for _, w := range n.passed() {
		passed = append(passed, w.Key+"@"+strconv.FormatUint(w.Version, 10))
	}
	if want := []string{"a@200", "b@100", "b@200"}; !slices.Equal(passed, want) {
		t.Errorf("passed on %v, want %v", passed, want)
	}
}

// TestMergeLoopStopFlushes: records waiting when the loop stops are merged
// before it returns, and gossip delivered after that is merged by
// HandleGossip itself.
func TestMergeLoopStopFlushes(t *testing.T) {
	n := newInboxNode(t)
	n.r.inbox.open()
	for i := range 3 {
		n.gossip(t, rec("cfg/"+strconv.Itoa(i), 100+i, "v"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n.r.mergeLoop(ctx) // returns at once: its context has ended
	if got := len(contents(t, n.st)); got != 3 {
		t.Fatalf("after the loop stopped the store holds %d records, want the 3 that waited", got)
	}
	n.gossip(t, rec("late", 100, "v"))
	if _, ok := contents(t, n.st)["late"]; !ok {
		t.Fatal("gossip delivered after the loop stopped was not merged")
	}
}

// TestFullInboxDropsAndCounts: past the inbox's bound the records of a
// gossiped delta are dropped, counted, and an anti-entropy round is asked
// for; a push is merged by its own call instead.
func TestFullInboxDropsAndCounts(t *testing.T) {
	n := newInboxNode(t)
	n.r.inbox.max = 3
	n.r.inbox.open()
	n.gossip(t, rec("a", 100, "v"), rec("b", 100, "v"), rec("c", 100, "v"), rec("d", 100, "v"), rec("e", 100, "v"))
	if st := n.r.Stats(); st.GossipDropped != 2 {
		t.Errorf("dropped %d, want 2", st.GossipDropped)
	}
	select {
	case <-n.r.syncNow:
	default:
		t.Error("no anti-entropy round asked for after a drop")
	}
	p := rec("p", 100, "v")
	resp, err := n.r.HandlePush(context.Background(), &Delta{Records: []Record{toWire(&p)}, Seen: []string{"n1"}})
	if err != nil || resp.Applied != 1 {
		t.Fatalf("push into a full inbox: %+v, %v; want 1 applied", resp, err)
	}
	n.startLoop(t)
	waitFor(t, "the queued records", func() bool { return n.r.Stats().Applied == 4 })
	got := contents(t, n.st)
	for _, k := range []string{"a", "b", "c", "p"} {
		if _, ok := got[k]; !ok {
			t.Errorf("%s missing", k)
		}
	}
}

// TestPushWaitsForItsCommit: a push merged by the loop answers once its
// records are in the store, with how many were new, and passes them on.
func TestPushWaitsForItsCommit(t *testing.T) {
	n := newInboxNode(t)
	n.startLoop(t)
	n.r.inbox.open()
	old, cur := rec("k", 100, "old"), rec("k", 200, "new")
	n.gossip(t, cur)
	waitFor(t, "the gossiped record", func() bool { return n.r.Stats().Applied == 1 })
	x := rec("x", 100, "v")
	resp, err := n.r.HandlePush(context.Background(), &Delta{Records: []Record{toWire(&old), toWire(&x)}, Seen: []string{"n1"}})
	if err != nil || resp.Applied != 1 {
		t.Fatalf("push: %+v, %v; want 1 applied", resp, err)
	}
	if _, ok := contents(t, n.st)["x"]; !ok {
		t.Fatal("a push answered before its record was in the store")
	}
	waitFor(t, "x passed on", func() bool { return len(n.passed()) == 2 })
}

// TestGossipedRecordWakesWatch: a record merged by the loop wakes a watch
// on its key, as a blocking query waits on.
func TestGossipedRecordWakesWatch(t *testing.T) {
	n := newInboxNode(t)
	n.startLoop(t)
	n.r.inbox.open()
	w := n.st.Watch("cfg/w", false)
	defer w.Stop()
	n.gossip(t, rec("cfg/w", 100, "v"))
	select {
	case <-w.C:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not wake")
	}
}

// TestConcurrentArrivals: gossip and pushes from many goroutines while the
// loop runs and stops: every record ends in the store, each counted once.
func TestConcurrentArrivals(t *testing.T) {
	n := newInboxNode(t)
	stop := n.startLoop(t)
	n.r.inbox.open()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				r := rec("g"+strconv.Itoa(g)+"/"+strconv.Itoa(i), 100+i, "v")
				if g%2 == 0 {
					n.gossip(t, r)
					continue
				}
				if _, err := n.r.HandlePush(context.Background(), &Delta{Records: []Record{toWire(&r)}}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	stop()
	if got := len(contents(t, n.st)); got != 400 {
		t.Errorf("store holds %d records, want 400", got)
	}
	if st := n.r.Stats(); st.Applied != 400 || st.Duplicate != 0 || st.GossipDropped != 0 {
		t.Errorf("stats %+v: want 400 applied", st)
	}
}
