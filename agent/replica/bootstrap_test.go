package replica

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

// TestBootstrapResumesAfterCut: a new node pulls 5,000 records; the first
// peer's stream is cut after two chunks (it fails, or goes silent as a
// killed peer's does) and the node resumes after the last key it got,
// from the other peer, without starting over. A write gossiped during the
// bootstrap is applied too, and the node ends with the same store as its
// peers.
func TestBootstrapResumesAfterCut(t *testing.T) {
	for _, silent := range []bool{false, true} {
		t.Run(fmt.Sprintf("silent=%v", silent), func(t *testing.T) { testBootstrapResumes(t, silent) })
	}
}

func testBootstrapResumes(t *testing.T, silent bool) {
	s := newSimNet(t, 3, 3)
	fresh, a, b := s.nodes["n0"], s.nodes["n1"], s.nodes["n2"]
	recs := make([]store.Record, 5000)
	for i := range recs {
		recs[i] = store.Record{Key: fmt.Sprintf("cfg/%05d", i), Value: []byte("v"), Version: store.Stamp(100 + i), Origin: "n9"}
	}
	s.seedSources(t, recs, a, b)
	s.cutAfter, s.silent = 2, silent
	fresh.r.cfg.CallTimeout = 100 * time.Millisecond // how long a silent stream is waited for
	s.onChunk = func(got int) {
		if got == 1 { // writes go on elsewhere during the bootstrap
			if _, err := a.st.Put("cfg/late", []byte("during"), 0); err != nil {
				t.Error(err)
			}
			s.pump(all)
		}
	}
	res, err := fresh.r.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Peers) != 2 || res.Records > 5000+1 {
		t.Fatalf("bootstrap = %+v: want two peers and no records fetched twice", res)
	}
	if e, found, _, _ := fresh.st.Get("cfg/late"); !found || string(e.Value) != "during" {
		t.Fatal("the write gossiped during the bootstrap is missing")
	}
	s.onChunk = nil
	s.syncAll(t) // the late write reaches the other peer
	for _, n := range []*simNode{a, b} {
		if n.st.DigestRoot() != fresh.st.DigestRoot() {
			t.Fatalf("%s and the bootstrapped node differ", n.name)
		}
	}
	if last, ok := fresh.r.LastBootstrap(); !ok || last.Records != res.Records {
		t.Fatalf("LastBootstrap = %+v, %v", last, ok)
	}
}

// seedSources gives a and b recs and syncs them both ways: bootstrap
// sources serve once they have synced.
func (s *simNet) seedSources(t *testing.T, recs []store.Record, a, b *simNode) {
	t.Helper()
	for _, n := range []*simNode{a, b} {
		if _, err := n.st.Apply(recs); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range [][2]*simNode{{a, b}, {b, a}} {
		if _, err := p[0].r.SyncWith(context.Background(), Peer{Name: p[1].name}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUnsyncedNodeIsNoSource: a node that has not completed a sync since
// it started (it may be back from past the horizon without knowing yet)
// refuses to be a bootstrap source while it has other peers, unless its
// store started empty.
func TestUnsyncedNodeIsNoSource(t *testing.T) {
	s := newSimNet(t, 5, 3)
	src := s.nodes["n1"]
	src.r.fresh.Store(false) // it restarted with data
	send := func(*BootstrapChunk) error { return nil }
	ctx := context.Background()
	if err := src.r.HandleBootstrap(ctx, &BootstrapRequest{}, send); err != errUnsynced {
		t.Fatalf("unsynced source: %v, want errUnsynced", err)
	}
	if _, err := src.r.SyncWith(ctx, Peer{Name: "n2"}); err != nil {
		t.Fatal(err)
	}
	if err := src.r.HandleBootstrap(ctx, &BootstrapRequest{}, send); err != nil {
		t.Fatalf("synced source: %v", err)
	}
}

// TestEmptyStartBootstrapKeepsWhatArrived: a node that started empty but
// holds records by the time it bootstraps (written locally, or merged
// from elsewhere) keeps them all, even when its source is empty.
func TestEmptyStartBootstrapKeepsWhatArrived(t *testing.T) {
	s := newSimNet(t, 9, 2)
	n := s.nodes["n0"] // n1 is empty
	recs := []store.Record{{Key: "restored", Value: []byte("v"), Version: 100, Origin: "n9"}}
	if _, err := n.st.Apply(recs); err != nil {
		t.Fatal(err)
	}
	if _, err := n.st.Put("local", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if !n.r.fresh.Load() {
		t.Fatal("the node did not start empty")
	}
	n.r.round(context.Background()) // bootstraps from the empty peer
	if _, ok := n.r.LastBootstrap(); !ok {
		t.Fatal("no bootstrap")
	}
	for _, k := range []string{"restored", "local"} {
		if s.value(t, n.name, k) != "v" {
			t.Fatalf("%s lost by the bootstrap", k)
		}
	}
}
