package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// testTable is a table declared by tests alone: it must get every
// guarantee kv has with no code beyond this line.
var testTable = DeclareTable("test")

func TestTables(t *testing.T) {
	if got := Tables(); !slices.Equal(got, []string{TableKV, testTable}) {
		t.Fatalf("Tables() = %q", got)
	}
	for _, name := range []string{"", "kv", "Bad", "a/b", "1x", strings.Repeat("a", 65)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("DeclareTable(%q) did not panic", name)
				}
			}()
			DeclareTable(name)
		}()
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("DeclareTable after Open did not panic")
			}
		}()
		openStore(t, "", Options{})
		DeclareTable("late")
	}()
	if CompareTables("kv", TableKV) != 0 || CompareTables(TableKV, testTable) >= 0 || CompareTables("b", "a") <= 0 {
		t.Fatal("CompareTables does not order kv first, then by name")
	}
}

func TestCheckRecord(t *testing.T) {
	good := Record{Key: "k", Value: []byte("v"), Version: 5, Origin: "n"}
	with := func(f func(*Record)) Record { r := good; f(&r); return r }
	tests := []struct {
		name string
		rec  Record
		want error
	}{
		{"kv", good, nil},
		{"kv by name", with(func(r *Record) { r.Table = "kv" }), nil},
		{"declared table", with(func(r *Record) { r.Table = testTable }), nil},
		{"unknown table", with(func(r *Record) { r.Table = "nope" }), ErrUnknownTable},
		{"empty key", with(func(r *Record) { r.Key = "" }), ErrInvalidKey},
		{"key not UTF-8", with(func(r *Record) { r.Key = "k\xff" }), ErrKeyNotUTF8},
		{"value too large", with(func(r *Record) { r.Value = make([]byte, MaxValueLen+1) }), ErrValueTooLarge},
		{"no origin", with(func(r *Record) { r.Origin = "" }), ErrInvalidRecord},
		{"origin not UTF-8", with(func(r *Record) { r.Origin = "n\xc3" }), ErrInvalidRecord},
		{"no version", with(func(r *Record) { r.Version = 0 }), ErrInvalidRecord},
	}
	for _, tt := range tests {
		c, err := CheckRecord(tt.rec)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
		if err == nil && c.Record().Table == "kv" {
			t.Errorf("%s: the checked record names kv %q", tt.name, c.Record().Table)
		}
	}
}

// TestTableIsApartFromKV: records of another table merge, tombstone,
// collect, snapshot and restore like kv records, count in the digest, and
// never show through the kv API, its watches or the quarantine.
func TestTableIsApartFromKV(t *testing.T) {
	s := openStore(t, "", Options{})
	mustPut(t, s, "shared", "kv value")
	w := s.Watch("", true)
	defer w.Stop()
	var local Entry
	err := s.Update(func(tx *Tx) error {
		var err error
		local, err = tx.Put(testTable, "shared", []byte("test value"), 3)
		return err
	})
	if err != nil || local.Table != testTable || local.Origin != s.NodeID() {
		t.Fatalf("Tx.Put = %+v, %v", local, err)
	}
	remote := Record{Table: testTable, Key: "remote", Value: []byte("r"), Version: s.Clock().Now(), Origin: "peer"}
	if n, err := s.Apply([]Record{remote}); err != nil || n != 1 {
		t.Fatalf("Apply = %d, %v", n, err)
	}
	select {
	case <-w.C:
		t.Fatal("a write to another table woke a kv watch")
	default:
	}
	if e, _, _, _ := s.Get("shared"); string(e.Value) != "kv value" {
		t.Fatalf("kv Get sees %q", e.Value)
	}
	if keys, _, _ := s.Keys("", ""); !slices.Equal(keys, []string{"shared"}) {
		t.Fatalf("kv Keys = %q", keys)
	}
	recs, err := s.Records(testTable, []string{"shared", "remote", "missing"})
	if err != nil || len(recs) != 2 || recs[0].Table != testTable || string(recs[0].Value) != "test value" {
		t.Fatalf("Records = %+v, %v", recs, err)
	}
	if !slices.Equal(recomputed(t, s), s.DigestBucketHashes()) {
		t.Fatal("digest differs from the records")
	}

	// A tombstone, then its collection, in the other table only.
	var tomb Entry
	if err := s.Update(func(tx *Tx) error { var err error; tomb, err = tx.Delete(testTable, "shared"); return err }); err != nil {
		t.Fatal(err)
	}
	if !tomb.Deleted {
		t.Fatalf("Tx.Delete = %+v", tomb)
	}
	if n, err := s.CollectTombstones(s.Clock().Now()); err != nil || n != 1 || s.Horizon() == 0 {
		t.Fatalf("CollectTombstones = %d, %v, horizon %v", n, err, s.Horizon())
	}
	if recs, _ := s.Records(testTable, []string{"shared"}); len(recs) != 0 {
		t.Fatalf("the collected tombstone is still there: %+v", recs)
	}
	if _, found, _, _ := s.Get("shared"); !found {
		t.Fatal("collecting the other table's tombstone removed the kv key")
	}

	// Snapshot and restore carry both tables apart.
	var buf bytes.Buffer
	if n, err := s.Snapshot(&buf); err != nil || n != 2 {
		t.Fatalf("Snapshot = %d, %v", n, err)
	}
	dst := openStore(t, "", Options{})
	if n, err := dst.Restore(bytes.NewReader(buf.Bytes())); err != nil || n != 2 {
		t.Fatalf("Restore = %d, %v", n, err)
	}
	if dst.DigestRoot() != s.DigestRoot() {
		t.Fatal("the restored store's digest differs")
	}
	if got, _ := dst.Records(testTable, []string{"remote"}); len(got) != 1 || Compare(&got[0], &remote) != 0 {
		t.Fatalf("restored %+v, want %+v", got, remote)
	}

	// MergeRange forgets within its table only.
	_, forgot, err := dst.MergeRange(testTable, "", "", nil, func(*Record) bool { return true })
	if err != nil || forgot != 1 {
		t.Fatalf("MergeRange = %d forgotten, %v", forgot, err)
	}
	if _, found, _, _ := dst.Get("shared"); !found {
		t.Fatal("MergeRange of the other table forgot a kv key")
	}
	if _, _, err := dst.MergeRange(testTable, "", "", mustCheck(t, Record{Key: "k", Version: 1, Origin: "n"}), func(*Record) bool { return false }); err == nil {
		t.Fatal("MergeRange took a kv record into another table")
	}
	if _, err := dst.Apply([]Record{{Table: "nope", Key: "k", Version: 1, Origin: "n"}}); !errors.Is(err, ErrUnknownTable) {
		t.Fatalf("Apply to an unknown table: %v", err)
	}
	if err := dst.Quarantine([]Record{{Table: testTable, Key: "k\xff", Version: 1, Origin: "n"}}); err == nil {
		t.Fatal("Quarantine took a record of another table")
	}
}

// TestTablesSurviveReopen: a table's records, digest and stamps are in the
// file: a reopened store holds them, with the same digest, and its clock
// resumes after them.
func TestTablesSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	future := s.Clock().Now() + MakeStamp(1000, 0)
	recs := make([]Record, 50)
	for i := range recs {
		recs[i] = Record{Table: testTable, Key: fmt.Sprintf("k%02d", i), Value: []byte("v"), Version: future - Stamp(i), Origin: "peer"}
	}
	if _, err := s.Apply(recs); err != nil {
		t.Fatal(err)
	}
	root := s.DigestRoot()
	s.Close()
	s = openStore(t, dir, Options{})
	if s.DigestRoot() != root {
		t.Fatal("digest root changed across a restart")
	}
	if s.Clock().Now() <= future {
		t.Fatal("the clock resumed before a stamp stored in another table")
	}
	if got, _ := s.ScanAfter(testTable, "k10", 5); len(got) != 5 || got[0].Key != "k11" || got[0].Table != testTable {
		t.Fatalf("ScanAfter = %+v", got)
	}
}
