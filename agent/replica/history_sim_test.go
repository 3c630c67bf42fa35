package replica

import (
	"fmt"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

// settle pumps gossip and syncs every pair until every node holds the
// same records, within a bound.
func (s *simNet) settle(t *testing.T) {
	t.Helper()
	for range 20 {
		s.pump(all)
		s.syncAll(t)
		s.pump(all)
		same := true
		first := contents(t, s.nodes[s.names[0]].st)
		for _, name := range s.names[1:] {
			same = same && recordsEqual(first, contents(t, s.nodes[name].st))
		}
		if same && len(s.queue) == 0 {
			return
		}
	}
	t.Fatal("the mesh did not converge")
}

// TestHistoryLostAcrossPartition: the two sides of a cut write the same
// key; after the heal every node holds the later write and every node's
// history marks the same, earlier, write lost. A rollback to it through
// a node of the winning side brings it back everywhere,
// and that node's history shows the rollback.
func TestHistoryLostAcrossPartition(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			s := newSimNetWith(t, seed, 5, store.Options{HistoryVersions: 10})
			node := func(i int) *simNode { return s.nodes[s.names[i]] }
			if _, err := node(0).st.Put("app/mode", []byte("base"), 0); err != nil {
				t.Fatal(err)
			}
			s.settle(t)

			// The cut: n0 n1 | n2 n3 n4. Each side writes; the right
			// side's clock reads later, so its write wins.
			for _, n := range s.names[2:] {
				s.group[n] = 1
			}
			left, err := node(1).st.Put("app/mode", []byte("left"), 0)
			if err != nil {
				t.Fatal(err)
			}
			node(3).now = node(1).now.Add(time.Minute)
			right, err := node(3).st.Put("app/mode", []byte("right"), 0)
			if err != nil {
				t.Fatal(err)
			}
			s.pump(all)
			s.syncAll(t)
			if got := s.value(t, "n0", "app/mode"); got != "left" {
				t.Fatalf("n0 holds %q during the cut, want its side's write", got)
			}

			// The heal.
			for _, n := range s.names {
				s.group[n] = 0
			}
			s.settle(t)
			for _, name := range s.names {
				st := s.nodes[name].st
				if got := s.value(t, name, "app/mode"); got != "right" {
					t.Fatalf("%s holds %q after the heal, want right", name, got)
				}
				lost, err := st.History(store.HistoryQuery{Key: "app/mode", LostOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				if len(lost) != 1 || lost[0].Version != left.Version || lost[0].Origin != left.Origin || string(lost[0].Value) != "left" {
					t.Fatalf("%s: lost versions %+v, want the left side's write %v", name, lost, left.Version)
				}
				all, _ := st.History(store.HistoryQuery{Key: "app/mode"})
				for _, h := range all {
					if h.Lost != (h.Version == left.Version) {
						t.Fatalf("%s: %+v marked lost %v", name, h, h.Lost)
					}
				}
			}

			// Recovery: an operator on n4 lists the lost write and rolls
			// back to it, as PUT /v1/edgeplane/rollback does (replication
			// may not import the HTTP API: its tests cover the handler).
			vs, err := node(4).st.History(store.HistoryQuery{Key: "app/mode", LostOnly: true})
			if err != nil || len(vs) != 1 {
				t.Fatalf("lost versions: %+v, %v", vs, err)
			}
			plan, err := node(4).st.PlanRollback("app/mode", vs[0].Version, vs[0].Origin)
			if err != nil || len(plan) != 1 {
				t.Fatalf("plan: %+v, %v", plan, err)
			}
			if _, err := node(4).st.Rollback(plan); err != nil {
				t.Fatal(err)
			}
			s.settle(t)
			for _, name := range s.names {
				if got := s.value(t, name, "app/mode"); got != "left" {
					t.Fatalf("%s holds %q after the rollback, want left", name, got)
				}
			}
			h, _ := node(4).st.History(store.HistoryQuery{Key: "app/mode", Limit: 1})
			if h[0].RollbackOf != left.Version || h[0].Version <= right.Version {
				t.Fatalf("n4's newest version %+v is not the rollback of %v", h[0], left.Version)
			}
		})
	}
}

// TestPrefixRollbackAcrossMesh: a prefix rolled back to a time on one of
// three nodes puts back changed and deleted keys and deletes created
// ones on every node; a dry run changes nothing anywhere.
func TestPrefixRollbackAcrossMesh(t *testing.T) {
	s := newSimNetWith(t, 11, 3, store.Options{HistoryVersions: 10})
	node := func(i int) *simNode { return s.nodes[s.names[i]] }
	put := func(i int, k, v string) {
		t.Helper()
		if _, err := node(i).st.Put(k, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	put(0, "app/a", "a1")
	put(1, "app/b", "b1")
	put(2, "app/gone", "g1")
	put(0, "other/x", "x1")
	s.settle(t)
	at := node(0).st.Clock().Now()
	for _, n := range s.names {
		s.nodes[n].now = s.nodes[n].now.Add(time.Second)
	}
	put(1, "app/a", "a2")
	if _, err := node(2).st.Delete("app/gone", nil); err != nil {
		t.Fatal(err)
	}
	put(0, "app/new", "n1")
	put(2, "other/x", "x2")
	s.settle(t)

	before := map[string]map[string]store.Record{}
	for _, n := range s.names {
		before[n] = contents(t, s.nodes[n].st)
	}
	plan, unknown, err := node(0).st.PlanPrefixRollback("app/", at) // a dry run is the plan alone
	if err != nil || len(plan) != 3 || len(unknown) != 0 {
		t.Fatalf("plan: %+v, unknown %v, %v", plan, unknown, err)
	}
	s.settle(t)
	for _, n := range s.names {
		if !recordsEqual(before[n], contents(t, s.nodes[n].st)) {
			t.Fatalf("the dry run changed %s", n)
		}
	}
	if _, err := node(0).st.Rollback(plan); err != nil {
		t.Fatal(err)
	}
	s.settle(t)
	for _, n := range s.names {
		for k, want := range map[string]string{"app/a": "a1", "app/b": "b1", "app/gone": "g1", "app/new": "", "other/x": "x2"} {
			if got := s.value(t, n, k); got != want {
				t.Errorf("%s: %s = %q, want %q", n, k, got, want)
			}
		}
	}
}

// TestWirePrev: Prev travels on the wire; a record whose Prev is not
// before its version is malformed, and one from a node that sends no
// Prev decodes with none.
func TestWirePrev(t *testing.T) {
	for _, c := range []struct {
		rec  store.Record
		bad  bool
		prev store.Stamp
	}{
		{store.Record{Key: "k", Value: []byte("v"), Version: 10, Origin: "o", Prev: 9}, false, 9},
		{store.Record{Key: "k", Version: 10, Origin: "o"}, false, 0},
		{store.Record{Key: "k", Version: 10, Origin: "o", Prev: 10}, true, 0},
	} {
		w := toWire(&c.rec)
		b, err := w.MarshalCBOR()
		if err != nil {
			t.Fatal(err)
		}
		var got Record
		if err := got.UnmarshalCBOR(b); err != nil {
			t.Fatal(err)
		}
		ch, err := got.verdict()
		if (err != nil) != c.bad {
			t.Fatalf("%+v: verdict %v", c.rec, err)
		}
		if err == nil && ch.Record().Prev != c.prev {
			t.Fatalf("%+v: Prev %v after the wire", c.rec, ch.Record().Prev)
		}
	}
}
