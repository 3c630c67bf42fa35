package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func historyStore(t testing.TB, versions int, maxBytes int64) *Store {
	return openStore(t, "", Options{NoSync: true, HistoryVersions: versions, HistoryMaxBytes: maxBytes})
}

func history(t testing.TB, s *Store, q HistoryQuery) []HistoryEntry {
	t.Helper()
	hs, err := s.History(q)
	if err != nil {
		t.Fatalf("History(%+v): %v", q, err)
	}
	return hs
}

// exchange applies each store's record of key to the other, as two sides
// of a healed partition do.
func exchange(t *testing.T, key string, a, b *Store) {
	t.Helper()
	ea, _, _, _ := a.Get(key)
	eb, _, _, _ := b.Get(key)
	if _, err := a.Apply([]Record{eb.Record}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Apply([]Record{ea.Record}); err != nil {
		t.Fatal(err)
	}
}

func TestHistoryKeepsLastVersions(t *testing.T) {
	s := historyStore(t, 10, 0)
	var written []Entry
	for i := range 15 {
		e, err := s.Put("app/x", fmt.Appendf(nil, "v%d", i), uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, e)
	}
	hs := history(t, s, HistoryQuery{Key: "app/x"})
	if len(hs) != 10 {
		t.Fatalf("%d versions, want 10", len(hs))
	}
	for i, h := range hs {
		w := written[14-i]
		if h.Version != w.Version || h.Origin != s.NodeID() || string(h.Value) != string(w.Value) || h.Flags != w.Flags ||
			!h.Held || h.Lost || h.Deleted {
			t.Errorf("version %d = %+v, want the write %+v", i, h, w)
		}
		if i > 0 && h.Version >= hs[i-1].Version {
			t.Errorf("not newest first at %d", i)
		}
		if i < 9 && h.Prev != written[13-i].Version {
			t.Errorf("version %d: Prev %v, want %v", i, h.Prev, written[13-i].Version)
		}
	}
	// A delete is a version too; another key's history is apart.
	if _, err := s.Delete("app/x", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put("app/xy", []byte("other"), 0); err != nil {
		t.Fatal(err)
	}
	hs = history(t, s, HistoryQuery{Key: "app/x"})
	if len(hs) != 10 || !hs[0].Deleted || hs[0].Lost {
		t.Fatalf("after delete: %d versions, newest %+v", len(hs), hs[0])
	}
	if hs := history(t, s, HistoryQuery{Key: "app/", Prefix: true}); len(hs) != 11 || hs[0].Key != "app/xy" {
		t.Fatalf("prefix: %d versions, newest %+v", len(hs), hs[0])
	}
	if hs := history(t, s, HistoryQuery{Key: "app/x", Since: written[12].Version}); len(hs) != 4 {
		t.Fatalf("since: %d versions, want 4 (3 puts, the delete)", len(hs))
	}
}

func TestHistoryOff(t *testing.T) {
	s := historyStore(t, 0, 0)
	for i := range 3 {
		if _, err := s.Put("k", []byte{byte(i)}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if hs := history(t, s, HistoryQuery{Key: "k"}); len(hs) != 0 {
		t.Fatalf("history off kept %d versions", len(hs))
	}
	if n, _ := s.HistoryBytes(); n != 0 {
		t.Fatalf("history off counts %d bytes", n)
	}
}

// TestHistoryLostAfterPartition: two stores write the same key without
// seeing each other's write, as the sides of a partition; after they
// exchange their records both mark the same, older, version lost, and
// nothing else.
func TestHistoryLostAfterPartition(t *testing.T) {
	for _, tc := range []struct {
		name     string
		withBase bool // both held a common version before the cut
		first    bool // a's write first (it loses)
	}{{"fresh key", false, true}, {"after common version", true, true}, {"b first", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := historyStore(t, 10, 0), historyStore(t, 10, 0)
			if tc.withBase {
				base, _ := a.Put("app/k", []byte("base"), 0)
				if _, err := b.Apply([]Record{base.Record}); err != nil {
					t.Fatal(err)
				}
			}
			w1, w2 := a, b
			if !tc.first {
				w1, w2 = b, a
			}
			loser, _ := w1.Put("app/k", []byte("loser"), 0)
			w2.Clock().Observe(loser.Version) // a later stamp, no knowledge
			winner, _ := w2.Put("app/k", []byte("winner"), 0)
			if winner.Version <= loser.Version {
				t.Fatalf("stamps out of order")
			}
			exchange(t, "app/k", a, b)
			for _, s := range []*Store{a, b} {
				lost := history(t, s, HistoryQuery{Key: "app/k", LostOnly: true})
				if len(lost) != 1 || lost[0].Version != loser.Version || lost[0].Origin != loser.Origin || string(lost[0].Value) != "loser" {
					t.Fatalf("lost = %+v, want the loser %v", lost, loser.Version)
				}
				all := history(t, s, HistoryQuery{Key: "app/k"})
				if all[0].Version != winner.Version || all[0].Lost {
					t.Fatalf("newest = %+v, want the winner", all[0])
				}
			}
			// Again, in any order: nothing changes.
			exchange(t, "app/k", b, a)
			for _, s := range []*Store{a, b} {
				if lost := history(t, s, HistoryQuery{Key: "app/k", LostOnly: true}); len(lost) != 1 {
					t.Fatalf("lost after a repeat: %+v", lost)
				}
			}
		})
	}
}

// TestApplyCheckedLost: a lost version is reported once, by the node
// whose held version lost and by one that rejected it, so that passing it
// on ends.
func TestApplyCheckedLost(t *testing.T) {
	a, b := historyStore(t, 10, 0), historyStore(t, 10, 0)
	left, _ := a.Put("k", []byte("left"), 0)
	b.Clock().Observe(left.Version)
	right, _ := b.Put("k", []byte("right"), 0)
	apply := func(s *Store, r Record) (changed, lost []Record) {
		t.Helper()
		c, err := CheckRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		changed, lost, err = s.ApplyCheckedLost([]Checked{c})
		if err != nil {
			t.Fatal(err)
		}
		return changed, lost
	}
	if changed, lost := apply(a, right.Record); len(changed) != 1 || len(lost) != 1 || lost[0].Version != left.Version {
		t.Fatalf("replacing the held version: changed %v, lost %v", changed, lost)
	}
	if changed, lost := apply(b, left.Record); len(changed) != 0 || len(lost) != 1 || lost[0].Version != left.Version {
		t.Fatalf("rejecting: changed %v, lost %v", changed, lost)
	}
	for _, s := range []*Store{a, b} {
		if changed, lost := apply(s, left.Record); len(changed) != 0 || len(lost) != 0 {
			t.Fatalf("again: changed %v, lost %v", changed, lost)
		}
	}
}

// TestHistorySequentialNotLost: overwrites that saw the version they
// replace are not lost, on the writer nor on a node they reach.
func TestHistorySequentialNotLost(t *testing.T) {
	a, b := historyStore(t, 10, 0), historyStore(t, 10, 0)
	e1, _ := a.Put("k", []byte("1"), 0)
	e2, _ := a.Put("k", []byte("2"), 0)
	// b gets the newer first, the older later (a slow path).
	if _, err := b.Apply([]Record{e2.Record, e1.Record}); err != nil {
		t.Fatal(err)
	}
	// b overwrites what it received; a receives it.
	e3, _ := b.Put("k", []byte("3"), 0)
	if _, err := a.Apply([]Record{e3.Record}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{a, b} {
		if lost := history(t, s, HistoryQuery{Key: "k", LostOnly: true}); len(lost) != 0 {
			t.Fatalf("sequential writes marked lost: %+v", lost)
		}
	}
}

// TestHistoryIntermediateVersions: the winning side wrote twice, the
// losing write stamped between. A node that saw the winning side's first
// write arrive (and lose) before its second does not keep it lost.
func TestHistoryIntermediateVersions(t *testing.T) {
	a, b := historyStore(t, 10, 0), historyStore(t, 10, 0)
	y1, _ := b.Put("k", []byte("y1"), 0)
	a.Clock().Observe(y1.Version)
	x, _ := a.Put("k", []byte("x"), 0)
	b.Clock().Observe(x.Version)
	y2, _ := b.Put("k", []byte("y2"), 0)
	if !(y1.Version < x.Version && x.Version < y2.Version) {
		t.Fatal("stamps out of order")
	}
	if _, err := a.Apply([]Record{y1.Record}); err != nil { // loses to x here
		t.Fatal(err)
	}
	if _, err := a.Apply([]Record{y2.Record}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Apply([]Record{x.Record}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{a, b} {
		lost := history(t, s, HistoryQuery{Key: "k", LostOnly: true})
		if len(lost) != 1 || lost[0].Version != x.Version {
			t.Fatalf("lost = %+v, want x only", lost)
		}
	}
}

// checkHistoryBytes fails t unless the versions the kv bucket stores
// (not the first versions the records alone hold) sum to the size s
// counts, and to at most maxBytes. It returns them, newest first.
func checkHistoryBytes(t *testing.T, s *Store, maxBytes int64) []HistoryEntry {
	t.Helper()
	var hs []HistoryEntry
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		hs, err = scanHistoryVersions(tx.Bucket(bucketKV), HistoryQuery{Prefix: true}, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(hs, func(a, b HistoryEntry) int { return cmp.Compare(b.Version, a.Version) })
	var sum int64
	for i := range hs {
		sum += hs[i].Size()
	}
	got, err := s.HistoryBytes()
	if err != nil || sum != got || got > maxBytes {
		t.Fatalf("%d entries sum to %d bytes, the store counts %d (max %d), %v", len(hs), sum, got, maxBytes, err)
	}
	return hs
}

func TestHistoryMaxBytes(t *testing.T) {
	const maxBytes = 64 << 10
	dir := t.TempDir()
	s := openStore(t, dir, Options{NoSync: true, HistoryVersions: 10, HistoryMaxBytes: maxBytes})
	const n = 100_000
	val := make([]byte, 40)
	recs := make([]Record, 0, 1000)
	v := MakeStamp(1_700_000_000_000, 0)
	for i := range n {
		v++
		recs = append(recs, Record{Key: fmt.Sprintf("app/%04d", i%2000), Value: val, Version: v, Origin: "peer", Prev: v - 1})
		if len(recs) == cap(recs) || i == n-1 {
			if _, err := s.Apply(recs); err != nil {
				t.Fatal(err)
			}
			recs = recs[:0]
			got, err := s.HistoryBytes()
			if err != nil || got > maxBytes {
				t.Fatalf("after %d versions the history counts %d bytes (max %d), %v", i+1, got, maxBytes, err)
			}
		}
	}
	hs := checkHistoryBytes(t, s, maxBytes)
	if len(hs) == 0 || hs[0].Version != v {
		t.Fatalf("history lacks the newest version %v: %d entries", v, len(hs))
	}
	for i := range hs {
		if hs[i].Version <= v-Stamp(len(hs)) {
			t.Fatalf("kept %v, not among the newest %d", hs[i].Version, len(hs))
		}
	}
	// One at a time too: each write past the cap sweeps in its own
	// transaction.
	for i := range 2000 {
		v++
		if _, err := s.Apply([]Record{{Key: fmt.Sprintf("app/%04d", i%7), Value: val, Version: v, Origin: "peer", Prev: v - 1}}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.HistoryBytes(); got > maxBytes {
			t.Fatalf("after %d more versions the history counts %d bytes (max %d)", i+1, got, maxBytes)
		}
	}
	checkHistoryBytes(t, s, maxBytes)
	// Open counts the same size again.
	want, _ := s.HistoryBytes()
	s.Close()
	s = openStore(t, dir, Options{NoSync: true, HistoryVersions: 10, HistoryMaxBytes: maxBytes})
	if got, _ := s.HistoryBytes(); got != want {
		t.Fatalf("reopened, the history counts %d bytes, %d before", got, want)
	}
	// A smaller cap is kept from the next write on.
	s.Close()
	s = openStore(t, dir, Options{NoSync: true, HistoryVersions: 10, HistoryMaxBytes: maxBytes / 4})
	v++
	if _, err := s.Apply([]Record{{Key: "app/x", Value: val, Version: v, Origin: "peer"}}); err != nil {
		t.Fatal(err)
	}
	checkHistoryBytes(t, s, maxBytes/4)
}

// toLegacyHistory moves the versions of the store file in dir to the
// local bucket "history", where edgeplane kept them before, under K 0x00
// stamp origin, with the age index (0x00 'a' stamp key -> size) and byte
// count (0x00 'n') older files kept beside them.
func toLegacyHistory(t *testing.T, dir string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		kv := tx.Bucket(bucketKV)
		b, err := tx.CreateBucket(localBucket(historyBucket))
		if err != nil {
			return err
		}
		var moved [][]byte
		var total uint64
		err = kv.ForEach(func(k, v []byte) error {
			if !isHistoryKey(k) {
				return nil
			}
			h, err := decodeHistory(k, v)
			if err != nil {
				return err
			}
			moved = append(moved, bytes.Clone(k))
			lk := bytes.Replace(k, []byte{histSep}, []byte{0}, 1)
			lv := append([]byte{legacyHistFormat}, v[1:]...)
			age := append(binary.BigEndian.AppendUint64([]byte("\x00a"), uint64(h.Version)), lk...)
			total += uint64(h.Size())
			return errors.Join(b.Put(lk, lv), b.Put(age, binary.AppendUvarint(nil, uint64(h.Size()))))
		})
		if err != nil {
			return err
		}
		if len(moved) == 0 {
			return errors.New("no versions to move")
		}
		for _, k := range moved {
			if err := kv.Delete(k); err != nil {
				return err
			}
		}
		return b.Put([]byte("\x00n"), binary.BigEndian.AppendUint64(nil, total))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHistoryOldLayout: a file whose history is in the local bucket
// "history", with the age index and byte count older files kept beside
// the versions, opens with its versions moved beside the records and
// listed as they were, the bucket deleted, its size counted, and history
// going on.
func TestHistoryOldLayout(t *testing.T) {
	dir := t.TempDir()
	opts := Options{NoSync: true, HistoryVersions: 3}
	s := openStore(t, dir, opts)
	for i := range 5 {
		for _, k := range []string{"a", "b/c", "b/d"} {
			if _, err := s.Put(k, fmt.Appendf(nil, "%s%d", k, i), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := history(t, s, HistoryQuery{Prefix: true})
	s.Close()
	toLegacyHistory(t, dir)

	// Moved with history off too, and listed.
	s = openStore(t, dir, Options{NoSync: true})
	if got := history(t, s, HistoryQuery{Prefix: true}); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("old layout, history off: %+v, want %+v", got, before)
	}
	if got := history(t, s, HistoryQuery{Key: "a"}); len(got) != 3 {
		t.Fatalf("old layout, history of a: %d versions, want 3", len(got))
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(localBucket(historyBucket)) != nil {
			return errors.New("the history bucket is left")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	toLegacyHistory(t, dir)
	s = openStore(t, dir, opts)
	if got := checkHistoryBytes(t, s, DefaultHistoryMaxBytes); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("after open: %+v, want %+v", got, before)
	}
	if got := history(t, s, HistoryQuery{Prefix: true}); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("after open: %+v, want %+v", got, before)
	}
	e := mustPut(t, s, "a", "new")
	if got := history(t, s, HistoryQuery{Key: "a"}); len(got) != 3 || got[0].Version != e.Version {
		t.Fatalf("history of a after a write: %+v", got)
	}
	checkHistoryBytes(t, s, DefaultHistoryMaxBytes)
}

func TestRollbackOneKey(t *testing.T) {
	s := historyStore(t, 10, 0)
	v1, _ := s.Put("k", []byte("good"), 7)
	s.Put("k", []byte("bad"), 0)
	plan, err := s.PlanRollback("k", v1.Version, "")
	if err != nil || len(plan) != 1 {
		t.Fatalf("plan = %+v, %v", plan, err)
	}
	out, err := s.Rollback(plan)
	if err != nil || len(out) != 1 {
		t.Fatalf("Rollback = %+v, %v", out, err)
	}
	e, _, _, _ := s.Get("k")
	if string(e.Value) != "good" || e.Flags != 7 || e.Version <= v1.Version {
		t.Fatalf("after rollback: %+v", e)
	}
	h := history(t, s, HistoryQuery{Key: "k"})[0]
	if h.RollbackOf != v1.Version || h.RollbackOrigin != s.NodeID() || h.Version != e.Version {
		t.Fatalf("history = %+v, want a rollback of %v", h, v1.Version)
	}
	// The plan is stale now: refused whole.
	if _, err := s.Rollback(plan); !errors.Is(err, ErrRollbackConflict) {
		t.Fatalf("stale plan: %v", err)
	}
	// Already there: nothing to do. Unknown version: an error.
	if plan, err := s.PlanRollback("k", v1.Version, ""); err != nil || len(plan) != 0 {
		t.Fatalf("plan to the current value = %+v, %v", plan, err)
	}
	if _, err := s.PlanRollback("k", 12345, ""); !errors.Is(err, ErrNoVersion) {
		t.Fatalf("unknown version: %v", err)
	}
	// The rollback's mark is counted in the history's size.
	checkHistoryBytes(t, s, DefaultHistoryMaxBytes)
}

func TestPrefixRollback(t *testing.T) {
	s := historyStore(t, 10, 0)
	s.Put("app/a", []byte("a1"), 0)
	s.Put("app/b", []byte("b1"), 0)
	s.Put("app/gone", []byte("g1"), 0)
	mark, _ := s.Put("other", []byte("x"), 0)
	at := mark.Version
	s.Put("app/a", []byte("a2"), 0)
	s.Delete("app/gone", nil)
	s.Put("app/new", []byte("n"), 0)
	changes, unknown, err := s.PlanPrefixRollback("app/", at)
	if err != nil || len(unknown) != 0 {
		t.Fatalf("plan: %v, unknown %v", err, unknown)
	}
	want := map[string]string{"app/a": "a1", "app/gone": "g1", "app/new": "<deleted>"}
	if len(changes) != len(want) {
		t.Fatalf("changes = %+v", changes)
	}
	for _, c := range changes {
		got := string(c.To.Value)
		if c.To.Deleted {
			got = "<deleted>"
		}
		if want[c.Key] != got {
			t.Errorf("%s -> %q, want %q", c.Key, got, want[c.Key])
		}
	}
	if _, err := s.Rollback(changes); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"app/a": "a1", "app/b": "b1", "app/gone": "g1"} {
		if e, _, _, _ := s.Get(k); e.Deleted || string(e.Value) != v {
			t.Errorf("%s = %+v, want %q", k, e, v)
		}
	}
	if e, _, _, _ := s.Get("app/new"); !e.Deleted {
		t.Errorf("app/new not deleted: %+v", e)
	}
	// A key whose history starts after the time is unknown, not deleted.
	s2 := historyStore(t, 1, 0)
	s2.Put("app/k", []byte("1"), 0)
	mid, _ := s2.Put("mark", nil, 0)
	s2.Put("app/k", []byte("2"), 0)
	if changes, unknown, err := s2.PlanPrefixRollback("app/", mid.Version); err != nil || len(changes) != 0 || len(unknown) != 1 {
		t.Fatalf("short history: %+v, unknown %v, %v", changes, unknown, err)
	}
}

func TestRecordPrevRoundTrip(t *testing.T) {
	for _, e := range []Entry{
		{Record: Record{Key: "k", Value: []byte("v"), Version: 10, Origin: "o", Prev: 9}, CreateIndex: 2, ModifyIndex: 3},
		{Record: Record{Key: "k", Version: 10, Origin: "o", Deleted: true}},
	} {
		got, err := decodeEntry("k", appendEntry(nil, &e))
		if err != nil || Compare(&got.Record, &e.Record) != 0 {
			t.Errorf("round trip of %+v = %+v, %v", e, got, err)
		}
	}
	if _, err := CheckRecord(Record{Key: "k", Version: 5, Origin: "o", Prev: 5}); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("Prev not before Version accepted: %v", err)
	}
}

func TestHistoryDecodeRoundTrip(t *testing.T) {
	for _, h := range []HistoryEntry{
		{Key: "a/b", Value: []byte("v"), Flags: 3, Version: 99, Origin: "node", Prev: 4, Held: true},
		{Key: "a", Version: 1, Origin: "o", Deleted: true, Lost: true},
		{Key: "a", Version: 7, Origin: "o", Held: true, RollbackOf: 5, RollbackOrigin: "p"},
	} {
		got, err := decodeHistory(historyKey(h.Key, h.Version, h.Origin), appendHistory(nil, &h))
		if err != nil || fmt.Sprint(got) != fmt.Sprint(h) {
			t.Errorf("round trip of %+v = %+v, %v", h, got, err)
		}
	}
}

func FuzzDecodeHistory(f *testing.F) {
	h := HistoryEntry{Key: "a/b", Value: []byte("v"), Flags: 3, Version: 99, Origin: "node", Prev: 4, Held: true,
		RollbackOf: 5, RollbackOrigin: "p"}
	f.Add(historyKey(h.Key, h.Version, h.Origin), appendHistory(nil, &h))
	f.Add([]byte("k\xff"), []byte{histFormat, 0})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		h, err := decodeHistory(k, v)
		if err != nil {
			return
		}
		if hv, err := viewHistory(k, v); err != nil || hv.size() != h.Size() {
			t.Fatalf("viewed in place: size %d, decoded %d, %v", hv.size(), h.Size(), err)
		}
		k2, v2 := historyKey(h.Key, h.Version, h.Origin), appendHistory(nil, &h)
		h2, err := decodeHistory(k2, v2)
		if err != nil || fmt.Sprint(h2) != fmt.Sprint(h) {
			t.Fatalf("re-encoding %+v gives %+v, %v", h, h2, err)
		}
	})
}

// TestFirstVersionInRecordOnly: a key's first version is listed from its
// record and written to the history only when a later version replaces
// it, so applying new keys (a bootstrap) writes no history; a first
// version older than what a sweep dropped is not brought back.
func TestFirstVersionInRecordOnly(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{NoSync: true, HistoryVersions: 10})
	v := MakeStamp(1_700_000_000_000, 0)
	var recs []Record
	for i := range 100 {
		v++
		recs = append(recs, Record{Key: fmt.Sprintf("app/%03d", i), Value: []byte("first"), Version: v, Origin: "peer"})
	}
	if _, err := s.Apply(recs); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.HistoryBytes(); n != 0 {
		t.Fatalf("new keys wrote %d bytes of history", n)
	}
	if hs := checkHistoryBytes(t, s, DefaultHistoryMaxBytes); len(hs) != 0 {
		t.Fatalf("the kv bucket holds %d versions", len(hs))
	}
	hs := history(t, s, HistoryQuery{Key: "app/", Prefix: true})
	if len(hs) != 100 || !hs[0].Held || string(hs[0].Value) != "first" {
		t.Fatalf("listed %d versions, newest %+v; want the 100 records' versions", len(hs), hs[0])
	}
	// Replaced, the first version is copied beside the new one.
	v++
	if _, err := s.Apply([]Record{{Key: "app/007", Value: []byte("second"), Version: v, Origin: "peer", Prev: recs[7].Version}}); err != nil {
		t.Fatal(err)
	}
	hs = history(t, s, HistoryQuery{Key: "app/007"})
	if len(hs) != 2 || string(hs[0].Value) != "second" || string(hs[1].Value) != "first" || hs[1].Lost {
		t.Fatalf("app/007's history %+v", hs)
	}
	if stored := checkHistoryBytes(t, s, DefaultHistoryMaxBytes); len(stored) != 2 {
		t.Fatalf("the kv bucket holds %d versions, want 2", len(stored))
	}
	// A first version at or before what a sweep dropped stays dropped.
	s.histSwept.Store(uint64(v))
	v++
	if _, err := s.Apply([]Record{{Key: "app/008", Value: []byte("second"), Version: v, Origin: "peer", Prev: recs[8].Version}}); err != nil {
		t.Fatal(err)
	}
	if hs := history(t, s, HistoryQuery{Key: "app/008"}); len(hs) != 1 || string(hs[0].Value) != "second" {
		t.Fatalf("app/008's history %+v, want only the version after the sweep", hs)
	}
}
