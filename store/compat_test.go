package store

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// pinnedRecords is a fixed data set whose kv digest root is pinned below.
func pinnedRecords() []Record {
	var recs []Record
	for i := range 500 {
		r := Record{Key: fmt.Sprintf("cfg/%03d", i), Value: []byte(fmt.Sprint("value ", i)),
			Flags: uint64(i % 7), Version: MakeStamp(1_750_000_000_000+uint64(i), uint16(i%3)), Origin: fmt.Sprint("node-", i%5)}
		if i%11 == 0 {
			r.Value, r.Deleted = nil, true
		}
		recs = append(recs, r)
	}
	return recs
}

// pinnedRoot is the digest root of pinnedRecords as every release before
// tables computed it: a node that holds only kv records must keep it, or
// it would sync forever with peers running those releases.
const pinnedRoot = 0xd098fc6ac5e6d83a

// TestKVDigestIsPinned: the kv records of a known data set have the
// digest root they always had, whatever tables are declared, and records
// of another table change it.
func TestKVDigestIsPinned(t *testing.T) {
	s := openStore(t, "", Options{NoSync: true})
	if _, err := s.Apply(pinnedRecords()); err != nil {
		t.Fatal(err)
	}
	if got := s.DigestRoot(); got != pinnedRoot {
		t.Fatalf("kv digest root %#x, want %#x", got, uint64(pinnedRoot))
	}
	other := pinnedRecords()[1]
	other.Table = testTable
	if _, err := s.Apply([]Record{other}); err != nil {
		t.Fatal(err)
	}
	if s.DigestRoot() == pinnedRoot {
		t.Fatal("a record of another table left the digest unchanged")
	}
}

// TestRestoreSnapshotV1: a snapshot written before tables existed
// (testdata/snapshot-v1.snap: 40 records of pinnedRecords and one whose
// key is not valid UTF-8) restores into kv, its bad key quarantined.
func TestRestoreSnapshotV1(t *testing.T) {
	f, err := os.Open("testdata/snapshot-v1.snap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := openStore(t, "", Options{NoSync: true})
	res, err := s.RestoreWith(f, RestoreOptions{})
	if err != nil || res.Changed != 40 || !slices.Equal(res.Quarantined, []string{"poison/\xff\xfe"}) {
		t.Fatalf("RestoreWith = %+v, %v", res, err)
	}
	want := pinnedRecords()[:40]
	for i := range want {
		got, found, _, err := s.Get(want[i].Key)
		if err != nil || !found || Compare(&got.Record, &want[i]) != 0 {
			t.Fatalf("%s: %+v, %v", want[i].Key, got.Record, err)
		}
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := VerifySnapshot(f); err != nil || n != 41 {
		t.Fatalf("VerifySnapshot = %d, %v", n, err)
	}
}

// The files in testdata written by the release before origins were
// interned (format 1 records), from pinnedRecords: its store file
// (gzipped) and a snapshot of it.
const (
	fileBeforeInterning     = "testdata/store-before-interning.db.gz"
	snapshotBeforeInterning = "testdata/snapshot-before-interning.snap"
)

// TestOpenFileBeforeInterning: a store file of the release before
// interning opens with every record and its digest root, takes new
// writes with interned origins beside the old records, and reopens.
func TestOpenFileBeforeInterning(t *testing.T) {
	dir := t.TempDir()
	gz, err := os.Open(fileBeforeInterning)
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	want := pinnedRecords()
	check := func(s *Store) {
		t.Helper()
		for i := range want {
			got, found, _, err := s.Get(want[i].Key)
			if err != nil || !found || Compare(&got.Record, &want[i]) != 0 {
				t.Fatalf("%s: %+v, %v, %v", want[i].Key, got.Record, found, err)
			}
		}
	}
	s := openStore(t, dir, Options{NoSync: true})
	check(s)
	if got := s.DigestRoot(); got != pinnedRoot {
		t.Fatalf("digest root %#x, want %#x", got, uint64(pinnedRoot))
	}
	// An old key replaced by a record of a new origin, and a new key.
	newer := want[1]
	newer.Version, newer.Origin, newer.Value = MakeStamp(1_760_000_000_000, 0), "node-new", []byte("newer")
	if _, err := s.Apply([]Record{newer}); err != nil {
		t.Fatal(err)
	}
	want[1] = newer
	local := mustPut(t, s, "local", "x")
	want = append(want, local.Record)
	check(s)
	root := s.DigestRoot()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, Options{NoSync: true})
	check(s)
	if s.DigestRoot() != root {
		t.Fatalf("digest root %#x after reopening, want %#x", s.DigestRoot(), root)
	}
}

// TestRestoreSnapshotBeforeInterning: a snapshot of the release before
// interning restores every record into a store that interns, with the
// digest root it had, and a snapshot of that store is byte for byte the
// one restored: interning changes the file only, never a snapshot.
func TestRestoreSnapshotBeforeInterning(t *testing.T) {
	old, err := os.ReadFile(snapshotBeforeInterning)
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, "", Options{NoSync: true})
	n, err := s.Restore(bytes.NewReader(old))
	if err != nil || n != len(pinnedRecords()) {
		t.Fatalf("Restore = %d, %v", n, err)
	}
	if got := s.DigestRoot(); got != pinnedRoot {
		t.Fatalf("digest root %#x, want %#x", got, uint64(pinnedRoot))
	}
	var again bytes.Buffer
	if _, err := s.Snapshot(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), old) {
		t.Fatalf("the snapshot of the restored store differs from the one restored (%d bytes, want %d)", again.Len(), len(old))
	}
}

// historyRecords is a fixed series of writes to 50 keys, 6 versions
// each, some deletes among them, and for cfg/07 two concurrent writes,
// the older of which is lost.
func historyRecords() [][]Record {
	var rounds [][]Record
	prev := map[string]Stamp{}
	for round := range 6 {
		var recs []Record
		for i := range 50 {
			k := fmt.Sprintf("cfg/%02d", i)
			r := Record{Key: k, Value: fmt.Appendf(nil, "%s v%d", k, round), Flags: uint64(round),
				Version: MakeStamp(1_750_000_000_000+uint64(round*1000+i), 0), Origin: fmt.Sprint("node-", (i+round)%3), Prev: prev[k]}
			if round == 3 && i%9 == 0 {
				r.Value, r.Deleted = nil, true
			}
			if round == 5 && i == 7 {
				r.Prev = prev[k] - 1 // had not seen round 4's version: that one is lost
			}
			prev[k] = r.Version
			recs = append(recs, r)
		}
		rounds = append(rounds, recs)
	}
	return rounds
}

// fileHistoryBucket is a store file written by the release that kept
// history in its local bucket "history": historyRecords applied with
// HistoryVersions 4 (gzipped).
const fileHistoryBucket = "testdata/store-history-bucket.db.gz"

// TestOpenFileHistoryBucket: a store file whose history is in the local
// bucket "history" opens with the history this release keeps for the
// same writes (versions, lost marks, byte count), the bucket gone, and
// its history going on.
func TestOpenFileHistoryBucket(t *testing.T) {
	opts := Options{NoSync: true, HistoryVersions: 4}
	fresh := openStore(t, "", opts)
	for _, recs := range historyRecords() {
		if _, err := fresh.Apply(recs); err != nil {
			t.Fatal(err)
		}
	}
	want := history(t, fresh, HistoryQuery{Prefix: true})
	wantBytes, _ := fresh.HistoryBytes()
	if lost := history(t, fresh, HistoryQuery{Prefix: true, LostOnly: true}); len(want) != 200 || len(lost) != 1 {
		t.Fatalf("%d versions, %d lost; want 200, 1", len(want), len(lost))
	}

	dir := t.TempDir()
	gz, err := os.Open(fileHistoryBucket)
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir, opts)
	if got := history(t, s, HistoryQuery{Prefix: true}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("history of the old file:\n%+v\nwant\n%+v", got, want)
	}
	if got, _ := s.HistoryBytes(); got != wantBytes {
		t.Fatalf("history counts %d bytes, want %d", got, wantBytes)
	}
	if got := checkHistoryBytes(t, s, DefaultHistoryMaxBytes); len(got) == 0 {
		t.Fatal("no versions beside the records")
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(localBucket(historyBucket)) != nil {
			return errors.New("the history bucket is left")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if _, err := s.Snapshot(&a); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Snapshot(&b); err != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("the old file's snapshot differs from the same writes' (%v)", err)
	}
	e := mustPut(t, s, "cfg/01", "new")
	if got := history(t, s, HistoryQuery{Key: "cfg/01"}); len(got) != 4 || got[0].Version != e.Version {
		t.Fatalf("history of cfg/01 after a write: %+v", got)
	}
	s.Close()
	s = openStore(t, dir, opts)
	if got := history(t, s, HistoryQuery{Key: "cfg/01"}); len(got) != 4 || got[0].Version != e.Version {
		t.Fatalf("history of cfg/01 reopened: %+v", got)
	}
}
