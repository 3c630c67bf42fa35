package store

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// testOrigins names origins 1 and 2 for the decoding tests.
func testOrigins(id uint64) (string, bool) {
	switch id {
	case 1:
		return "node-a", true
	case 2:
		return "5eed5eed-0000-4000-8000-000000000001", true
	}
	return "", false
}

func TestInternedRoundTrip(t *testing.T) {
	for _, e := range []Entry{
		{Record: Record{Key: "k", Value: []byte("v"), Version: 9, Origin: "node-a"}, CreateIndex: 7, ModifyIndex: 7},
		{Record: Record{Key: "a/b", Value: []byte("v"), Flags: 42, Version: MakeStamp(1<<40, 9), Origin: "node-a", Prev: 3}, CreateIndex: 3, ModifyIndex: 1 << 50},
		{Record: Record{Key: "t", Deleted: true, Version: 5, Origin: "5eed5eed-0000-4000-8000-000000000001"}, CreateIndex: 1, ModifyIndex: 2},
	} {
		id := uint64(1)
		if e.Origin != "node-a" {
			id = 2
		}
		b := appendInterned(nil, &e, id)
		got, v, err := decodeStored(e.Key, b, testOrigins)
		if len(v) > 0 {
			got.Value = v
		}
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip of %+v = %+v, %v", e, got, err)
		}
		if old := appendEntry(nil, &e); len(b)+len(e.Origin) > len(old) {
			t.Errorf("%s: interned %d bytes, inline %d", e.Key, len(b), len(old))
		}
		// A snapshot frame or a peer's bytes cannot name an origin by
		// number.
		if _, err := decodeEntry(e.Key, b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeEntry of format 2 = %v, want ErrCorrupt", err)
		}
		// An origin the file does not number is corruption.
		if _, _, err := decodeStored(e.Key, appendInterned(nil, &e, 3), testOrigins); !errors.Is(err, ErrCorrupt) {
			t.Errorf("unknown origin: %v, want ErrCorrupt", err)
		}
	}
}

// FuzzDecodeStored: whatever the data file's decoder accepts, in either
// format, encodes again to a record that decodes the same.
func FuzzDecodeStored(f *testing.F) {
	f.Add(appendInterned(nil, &Entry{Record: Record{Key: "k", Value: []byte("v"), Origin: "node-a", Version: 9}, ModifyIndex: 2, CreateIndex: 2}, 1))
	f.Add(appendInterned(nil, &Entry{Record: Record{Key: "k", Deleted: true, Origin: "node-a", Version: 9, Prev: 4}, ModifyIndex: 5, CreateIndex: 2}, 2))
	f.Add(appendEntry(nil, &Entry{Record: Record{Key: "k", Value: []byte("v"), Origin: "o", Version: 9}, ModifyIndex: 2}))
	f.Add([]byte{2, 4, 1, 0, 9, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, v, err := decodeStored("k", b, testOrigins)
		if err != nil {
			return
		}
		e.Value = bytes.Clone(v)
		id := uint64(1)
		if e.Origin != "node-a" {
			id = 2
		}
		for _, enc := range [][]byte{appendEntry(nil, &e), appendInterned(nil, &e, id)} {
			if e.Origin != "node-a" && e.Origin != "5eed5eed-0000-4000-8000-000000000001" && enc[0] == entryInterned {
				continue
			}
			again, v, err := decodeStored("k", enc, testOrigins)
			again.Value = bytes.Clone(v)
			if err != nil || !reflect.DeepEqual(again, e) {
				t.Fatalf("round trip of %+v (format %d) = %+v, %v", e, enc[0], again, err)
			}
		}
	})
}

// TestOriginsInternedAcrossReopen: records of many origins are stored with
// their origins numbered, and read back the same after the store is
// reopened; a file written before interning (format 1 records) reads as
// it did and takes numbered records beside them.
func TestOriginsInternedAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{NoSync: true})
	var recs []Record
	for i := range 50 {
		recs = append(recs, Record{Key: fmt.Sprintf("k/%02d", i), Value: []byte("v"), Version: MakeStamp(1_750_000_000_000, uint16(i)),
			Origin: fmt.Sprintf("origin-%d", i%7)})
	}
	if _, err := s.Apply(recs); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "local", "x")
	// A record as a release before interning stored it.
	old := Entry{Record: Record{Key: "old", Value: []byte("o"), Version: MakeStamp(1_700_000_000_000, 0), Origin: "ancient"}, CreateIndex: 1, ModifyIndex: 1}
	err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketKV).Put([]byte("old"), appendEntry(nil, &old)) })
	if err != nil {
		t.Fatal(err)
	}
	root := s.DigestRoot()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, Options{NoSync: true})
	if s.DigestRoot() != root {
		t.Errorf("digest root %#x after reopen, was %#x", s.DigestRoot(), root)
	}
	for _, r := range append(recs, old.Record) {
		got, found, _, err := s.Get(r.Key)
		if err != nil || !found || Compare(&got.Record, &r) != 0 {
			t.Fatalf("%s: %+v, %v, %v", r.Key, got.Record, found, err)
		}
	}
	if got, _, _, _ := s.Get("local"); got.Origin != s.NodeID() {
		t.Fatalf("local write's origin %q, want %q", got.Origin, s.NodeID())
	}
	if names := *s.orig.names.Load(); len(names) != 1+7+1 {
		t.Fatalf("%d origins numbered (%q), want 8", len(names)-1, names[1:])
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketKV).Get([]byte("k/00"))
		if v[0] != entryInterned {
			return fmt.Errorf("k/00 stored in format %d", v[0])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFailedCommitTakesOriginBack: a transaction that fails after
// numbering a new origin takes the number back, so the next record of
// that origin writes it again and the file names it after a reopen.
func TestFailedCommitTakesOriginBack(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{NoSync: true})
	rec := Record{Key: "k", Value: []byte("v"), Version: MakeStamp(1_750_000_000_000, 0), Origin: "newcomer"}
	boom := errors.New("boom")
	err := s.write(func(t *txn) error {
		if _, err := t.merge(t.kv(), &rec, SourceRemote); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("write = %v, want boom", err)
	}
	if _, ok := s.orig.ids["newcomer"]; ok {
		t.Fatal("a failed commit kept the origin it numbered")
	}
	other := Record{Key: "j", Value: []byte("v"), Version: MakeStamp(1_750_000_000_000, 1), Origin: "other"}
	if _, err := s.Apply([]Record{other, rec}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, Options{NoSync: true})
	for _, r := range []Record{rec, other} {
		if got, found, _, err := s.Get(r.Key); err != nil || !found || got.Origin != r.Origin {
			t.Fatalf("%s: %+v, %v, %v", r.Key, got.Record, found, err)
		}
	}
}
