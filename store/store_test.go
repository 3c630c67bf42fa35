package store

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// openStore opens a store under t.TempDir and closes it at cleanup.
func openStore(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustPut(t testing.TB, s *Store, key, value string) Entry {
	t.Helper()
	e, err := s.Put(key, []byte(value), 0)
	if err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
	return e
}

func ptr(v uint64) *uint64 { return &v }

// mustCheck checks records as a decoder of received ones does.
func mustCheck(t testing.TB, recs ...Record) []Checked {
	t.Helper()
	out := make([]Checked, len(recs))
	for i := range recs {
		var err error
		if out[i], err = CheckRecord(recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestPutGet(t *testing.T) {
	s := openStore(t, "", Options{})
	if _, found, idx, err := s.Get("missing"); err != nil || found || idx != 1 {
		t.Fatalf("Get missing = found %v idx %d err %v", found, idx, err)
	}
	e1 := mustPut(t, s, "a", "1")
	e2, err := s.Put("a", []byte("2"), 7)
	if err != nil {
		t.Fatal(err)
	}
	if e2.CreateIndex != e1.CreateIndex || e2.ModifyIndex <= e1.ModifyIndex || e2.Version <= e1.Version {
		t.Fatalf("second put %+v after %+v", e2, e1)
	}
	got, found, idx, err := s.Get("a")
	if err != nil || !found || string(got.Value) != "2" || got.Flags != 7 || idx != e2.ModifyIndex || got.Origin != s.NodeID() {
		t.Fatalf("Get = %+v found %v idx %d err %v", got, found, idx, err)
	}
	if _, err := s.Put("", nil, 0); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("empty key: %v", err)
	}
}

func TestCAS(t *testing.T) {
	tests := []struct {
		name   string
		setup  bool // key exists first
		index  func(existing uint64) *uint64
		wantOK bool
	}{
		{"create-only on missing", false, func(uint64) *uint64 { return ptr(0) }, true},
		{"create-only on existing", true, func(uint64) *uint64 { return ptr(0) }, false},
		{"matching index", true, func(i uint64) *uint64 { return ptr(i) }, true},
		{"stale index", true, func(i uint64) *uint64 { return ptr(i - 1) }, false},
		{"index on missing key", false, func(uint64) *uint64 { return ptr(5) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, "", Options{})
			mustPut(t, s, "other", "x")
			var existing uint64
			if tt.setup {
				existing = mustPut(t, s, "k", "old").ModifyIndex
			}
			_, ok, err := s.CAS("k", []byte("new"), 0, tt.index(existing))
			if err != nil || ok != tt.wantOK {
				t.Fatalf("CAS = %v, %v; want %v", ok, err, tt.wantOK)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	s := openStore(t, "", Options{})
	e := mustPut(t, s, "k", "v")
	if ok, err := s.Delete("k", ptr(e.ModifyIndex+1)); err != nil || ok {
		t.Fatalf("DeleteCAS with a stale index = %v, %v", ok, err)
	}
	if ok, err := s.Delete("k", ptr(e.ModifyIndex)); err != nil || !ok {
		t.Fatalf("DeleteCAS = %v, %v", ok, err)
	}
	got, found, idx, _ := s.Get("k")
	if !found || !got.Deleted || idx <= e.ModifyIndex {
		t.Fatalf("after delete: %+v found %v idx %d", got, found, idx)
	}
	// Deleting a key this node does not hold still writes a tombstone: an
	// older write of it may be on its way from another node.
	if ok, err := s.Delete("never", nil); err != nil || !ok {
		t.Fatalf("delete of a missing key = %v, %v", ok, err)
	}
	tomb, found, _, _ := s.Get("never")
	if !found || !tomb.Deleted {
		t.Fatalf("no tombstone for a deleted missing key: %+v", tomb)
	}
	older := Record{Key: "never", Value: []byte("late"), Version: tomb.Version - 1, Origin: "peer"}
	if n, _ := s.Apply([]Record{older}); n != 0 {
		t.Fatal("an older write resurrected a key deleted before it arrived")
	}
	// Re-creating a deleted key gives it a new CreateIndex.
	e2 := mustPut(t, s, "k", "again")
	if e2.CreateIndex != e2.ModifyIndex {
		t.Fatalf("re-created key: %+v", e2)
	}
}

func TestDeleteTreeAndList(t *testing.T) {
	s := openStore(t, "", Options{})
	for _, k := range []string{"app/a", "app/b/c", "app/b/d", "apq", "web/x"} {
		mustPut(t, s, k, k)
	}
	keys, _, err := s.Keys("app/", "/")
	if err != nil || !slices.Equal(keys, []string{"app/a", "app/b/"}) {
		t.Fatalf("Keys with separator = %q, %v", keys, err)
	}
	keys, _, _ = s.Keys("ap", "")
	if !slices.Equal(keys, []string{"app/a", "app/b/c", "app/b/d", "apq"}) {
		t.Fatalf("Keys = %q", keys)
	}
	n, err := s.DeleteTree("app/")
	if err != nil || n != 3 {
		t.Fatalf("DeleteTree = %d, %v", n, err)
	}
	list, idx, err := s.List("app/")
	if err != nil || len(list) != 0 || idx != s.Index() {
		t.Fatalf("List after DeleteTree = %v idx %d (store %d), %v", list, idx, s.Index(), err)
	}
	list, _, _ = s.List("")
	if len(list) != 2 || list[0].Key != "apq" || list[1].Key != "web/x" {
		t.Fatalf("List all = %+v", list)
	}
}

func TestApplyLastWriterWins(t *testing.T) {
	s := openStore(t, "", Options{})
	local := mustPut(t, s, "k", "local")
	idx := s.Index()

	older := Record{Key: "k", Value: []byte("older"), Version: local.Version - 1, Origin: "zz"}
	w := s.Watch("k", false)
	defer w.Stop()
	if n, err := s.Apply([]Record{older, local.Record}); err != nil || n != 0 {
		t.Fatalf("Apply of losing records = %d, %v", n, err)
	}
	if s.Index() != idx {
		t.Fatalf("a losing merge moved the index %d -> %d", idx, s.Index())
	}
	select {
	case <-w.C:
		t.Fatal("a losing merge woke a watch")
	default:
	}

	newer := Record{Key: "k", Value: []byte("newer"), Version: local.Version + 100, Origin: "aa"}
	if n, err := s.Apply([]Record{newer}); err != nil || n != 1 {
		t.Fatalf("Apply of a newer record = %d, %v", n, err)
	}
	<-w.C
	got, _, _, _ := s.Get("k")
	if string(got.Value) != "newer" || got.CreateIndex != local.CreateIndex || got.Origin != "aa" {
		t.Fatalf("after merge: %+v", got)
	}
	// A local write after the merge still wins: the clock observed the stamp.
	if e := mustPut(t, s, "k", "mine"); e.Version <= newer.Version {
		t.Fatalf("local write %v does not supersede merged %v", e.Version, newer.Version)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	dir := t.TempDir()
	openStore(t, dir, Options{})
	start := time.Now()
	_, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open = %v, want ErrInUse", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("second Open hung")
	}
}

func TestRestartKeepsIndexIDAndClock(t *testing.T) {
	dir := t.TempDir()
	wall := &fakeWall{t: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	s, err := Open(dir, Options{Wall: wall})
	if err != nil {
		t.Fatal(err)
	}
	var last Entry
	for i := range 5 {
		last = mustPut(t, s, fmt.Sprint("k", i), "v")
	}
	id := s.NodeID()
	s.Close()

	// The device reboots with its clock at 1970 and no floor to save it.
	wall.t = time.Unix(0, 0)
	s2 := openStore(t, dir, Options{Wall: wall})
	if s2.NodeID() != id || s2.Index() != last.ModifyIndex {
		t.Fatalf("after restart: id %s index %d, want %s %d", s2.NodeID(), s2.Index(), id, last.ModifyIndex)
	}
	e := mustPut(t, s2, "k0", "after reboot")
	if e.Version <= last.Version || e.ModifyIndex <= last.ModifyIndex {
		t.Fatalf("stamp %v / index %d after restart, before %v / %d", e.Version, e.ModifyIndex, last.Version, last.ModifyIndex)
	}
}

func TestRestartResumesFromLargestStoredStamp(t *testing.T) {
	dir := t.TempDir()
	wall := &fakeWall{t: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	s, err := Open(dir, Options{Wall: wall})
	if err != nil {
		t.Fatal(err)
	}
	future := MakeStamp(ms(wall.t)+3_600_000, 0)
	if _, err := s.Apply([]Record{{Key: "f", Version: future, Origin: "peer"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openStore(t, dir, Options{Wall: wall})
	if got := s2.Clock().Now(); got <= future {
		t.Fatalf("clock after restart %v, want > %v", got, future)
	}
}

func TestConcurrentWritesGroupCommit(t *testing.T) {
	s := openStore(t, "", Options{})
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.Put(fmt.Sprintf("w%d/%d", w, i), []byte("v"), 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	list, _, err := s.List("w")
	if err != nil || len(list) != writers*each {
		t.Fatalf("List = %d entries, %v", len(list), err)
	}
	if s.Index() != writers*each+1 { // indexes start at 2
		t.Fatalf("index %d, want %d", s.Index(), writers*each+1)
	}
	seen := map[uint64]bool{}
	for _, e := range list {
		if seen[e.ModifyIndex] {
			t.Fatalf("index %d given twice", e.ModifyIndex)
		}
		seen[e.ModifyIndex] = true
	}
}

// TestCloseAmidGroupCommits: writers queued behind a commit when the
// store closes each get an answer (success or ErrClosed), and every write
// that succeeded, its digest index entry included, is in the file when it
// opens again.
func TestCloseAmidGroupCommits(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 16, 200
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []string
		count atomic.Int64
	)
	closed := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("w%02d/%03d", w, i)
				_, err := s.Put(key, []byte("v"), 0)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, key)
				mu.Unlock()
				if count.Add(1) == writers*each/3 {
					close(closed)
				}
			}
		})
	}
	<-closed
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = openStore(t, dir, Options{NoSync: true})
	keys := map[string]bool{}
	for _, kh := range indexEntries(t, s) {
		keys[kh.Key] = true
	}
	for _, k := range acked {
		if _, found, _, err := s.Get(k); err != nil || !found || !keys[k] {
			t.Fatalf("acknowledged %s: found %v, indexed %v, %v", k, found, keys[k], err)
		}
	}
	t.Logf("%d writes acknowledged before the close", len(acked))
}

func TestCollectTombstonesKeepsIndexMonotonic(t *testing.T) {
	s := openStore(t, "", Options{})
	mustPut(t, s, "p/a", "1")
	mustPut(t, s, "q", "1")
	if _, err := s.Delete("p/a", nil); err != nil {
		t.Fatal(err)
	}
	_, _, before, _ := s.Get("p/a")
	_, listBefore, _ := s.List("p/")
	n, err := s.CollectTombstones(s.Clock().Now())
	if err != nil || n != 1 {
		t.Fatalf("CollectTombstones = %d, %v", n, err)
	}
	_, found, after, _ := s.Get("p/a")
	_, listAfter, _ := s.List("p/")
	if found || after < before || listAfter < listBefore {
		t.Fatalf("after collection: found %v, key index %d -> %d, list index %d -> %d", found, before, after, listBefore, listAfter)
	}
	if n, _ := s.CollectTombstones(s.Clock().Now()); n != 0 {
		t.Fatalf("second collection removed %d", n)
	}
}

func TestClosedStore(t *testing.T) {
	s := openStore(t, "", Options{})
	s.Close()
	if _, err := s.Put("k", nil, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close = %v", err)
	}
	if _, _, _, err := s.Get("k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close = %v", err)
	}
}
