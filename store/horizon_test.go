package store

import (
	"maps"
	"slices"
	"testing"
)

func TestMarksPersistAndNeverGoBack(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	if s.Horizon() != 0 || s.SyncMark() != 0 {
		t.Fatalf("fresh store: horizon %v, sync mark %v", s.Horizon(), s.SyncMark())
	}
	mustPut(t, s, "gone", "1")
	if _, err := s.Delete("gone", nil); err != nil {
		t.Fatal(err)
	}
	before := s.Clock().Now()
	if n, err := s.CollectTombstones(MakeStamp(1, 0)); err != nil || n != 0 || s.Horizon() != 0 {
		t.Fatalf("a pass that removes nothing: %d, %v, horizon %v", n, err, s.Horizon())
	}
	if n, err := s.CollectTombstones(before + 1); err != nil || n != 1 || s.Horizon() != before+1 {
		t.Fatalf("collection: %d, %v, horizon %v want %v", n, err, s.Horizon(), before+1)
	}
	for _, err := range []error{s.RaiseHorizon(before), s.SetSyncMark(before), s.SetSyncMark(before - 5)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if s.Horizon() != before+1 || s.SyncMark() != before {
		t.Fatalf("lower marks moved them: horizon %v, sync mark %v", s.Horizon(), s.SyncMark())
	}
	s.Close()
	s = openStore(t, dir, Options{})
	if s.Horizon() != before+1 || s.SyncMark() != before {
		t.Fatalf("after reopen: horizon %v, sync mark %v", s.Horizon(), s.SyncMark())
	}
}

// TestMergeRange: a peer's records for a key range are merged; the
// store's other records in that range are forgotten when the predicate
// says so, outside the range never; the digest matches the records left.
func TestMergeRange(t *testing.T) {
	s := openStore(t, "", Options{})
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		mustPut(t, s, k, "old")
	}
	keep := mustPut(t, s, "c2", "mine") // in range, absent at the peer, kept
	if _, err := s.Delete("d", nil); err != nil {
		t.Fatal(err)
	}
	peer := []Record{
		{Key: "b", Value: []byte("new"), Version: s.Clock().Now(), Origin: "peer"},
		{Key: "bb", Value: []byte("x"), Version: s.Clock().Now(), Origin: "peer"},
	}
	w := s.Watch("c", false)
	defer w.Stop()
	_, _, idxBefore, _ := s.Get("c")
	won, forgot, err := s.MergeRange(TableKV, "a", "d", mustCheck(t, peer...), func(r *Record) bool { return r.Key != keep.Key })
	if err != nil || len(won) != 2 || forgot != 2 { // c, and d's tombstone
		t.Fatalf("MergeRange = %d won, %d forgotten, %v", len(won), forgot, err)
	}
	<-w.C
	if _, found, idx, _ := s.Get("c"); found || idx <= idxBefore {
		t.Fatalf("c: found %v, index %d after %d", found, idx, idxBefore)
	}
	if got := allKeys(t, s); !slices.Equal(sorted(got), []string{"a", "b", "bb", "c2", "e"}) {
		t.Fatalf("keys after MergeRange: %v", got)
	}
	if !slices.Equal(recomputed(t, s), s.DigestBucketHashes()) {
		t.Fatal("digest differs from the records")
	}
	// The last range runs to the end of the store.
	if _, forgot, err := s.MergeRange(TableKV, "c2", "", nil, func(*Record) bool { return true }); err != nil || forgot != 1 {
		t.Fatalf("open range: %d forgotten, %v", forgot, err)
	}
	if _, found, _, _ := s.Get("e"); found {
		t.Fatal("e survived the open range")
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }

// TestNoWriteWithoutChange: records that change nothing (duplicates,
// older versions) and a lower mark write nothing to the file: no commit,
// no fsync of the meta page.
func TestNoWriteWithoutChange(t *testing.T) {
	s := openStore(t, "", Options{})
	e := mustPut(t, s, "k", "v")
	if err := s.SetSyncMark(e.Version); err != nil {
		t.Fatal(err)
	}
	writes := func() int64 { st := s.db.Stats(); return st.TxStats.GetWrite() }
	before := writes()
	older := Record{Key: "k", Value: []byte("old"), Version: e.Version - 1, Origin: "elsewhere"}
	if n, err := s.Apply([]Record{e.Record, older}); err != nil || n != 0 {
		t.Fatalf("Apply of a duplicate and an older record = %d, %v", n, err)
	}
	if err := s.SetSyncMark(e.Version - 1); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CollectTombstones(s.Clock().Now()); err != nil || n != 0 {
		t.Fatalf("CollectTombstones = %d, %v", n, err)
	}
	if got := writes(); got != before {
		t.Fatalf("%d page writes for operations that changed nothing", got-before)
	}
	mustPut(t, s, "k", "v2")
	if writes() == before {
		t.Fatal("the write counter does not count writes")
	}
}

// TestCoveragePersists: the coverage saved is the coverage read after a
// reopen, and a saved value that does not decode claims nothing.
func TestCoveragePersists(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	if c, err := s.Coverage(); err != nil || len(c) != 0 {
		t.Fatalf("fresh store: %v, %v", c, err)
	}
	want := map[string]Stamp{"a": MakeStamp(5, 1), "node-β": MakeStamp(7, 0), "": 3}
	if err := s.SetCoverage(want); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir, Options{})
	if c, err := s.Coverage(); err != nil || !maps.Equal(c, want) {
		t.Fatalf("after reopen: %v, %v, want %v", c, err, want)
	}
	b := encodeCoverage(want)
	for cut := range len(b) - 1 {
		if c := decodeCoverage(b[:cut+1]); len(c) != 0 && cut+1 != len(b) {
			if _, ok := c["node-β"]; ok {
				t.Fatalf("a value cut at %d decodes its last node: %v", cut+1, c)
			}
		}
	}
}

func FuzzDecodeCoverage(f *testing.F) {
	f.Add(encodeCoverage(map[string]Stamp{"a": 1, "b": 2}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := decodeCoverage(b)
		if len(c) > 0 && !maps.Equal(decodeCoverage(encodeCoverage(c)), c) {
			t.Fatalf("re-encoding %v changes it", c)
		}
	})
}
