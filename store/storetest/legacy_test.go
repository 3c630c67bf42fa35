package storetest

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/edgeplane/edgeplane/store"
)

// TestWriteUncheckedRecord: a record written by the helper is what the
// store would have written: it opens, finds the record with its digest
// entry, and quarantines it, leaving the digest of the other records.
func TestWriteUncheckedRecord(t *testing.T) {
	dir, cleanDir := t.TempDir(), t.TempDir()
	for _, d := range []string{dir, cleanDir} {
		s, err := store.Open(d, store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply([]store.Record{{Key: "a", Value: []byte("1"), Version: 7, Origin: "n"}}); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	bad := store.Record{Key: "b\xff", Value: []byte("2"), Flags: 3, Version: 9, Origin: "n"}
	if err := WriteUncheckedRecord(dir, bad); err != nil {
		t.Fatal(err)
	}
	if err := WriteUncheckedRecord(dir, bad); err == nil {
		t.Fatal("wrote the same key twice")
	}
	db, err := bolt.Open(filepath.Join(dir, store.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		bk := binary.BigEndian.AppendUint16(nil, uint16(store.BucketOf(bad.Key)))
		h := tx.Bucket([]byte("index")).Get(append(bk, bad.Key...))
		d := tx.Bucket([]byte("digest")).Get(bk)
		if len(h) != 8 || len(d) != 8 || binary.BigEndian.Uint64(h) != store.RecordHash(&bad) || binary.BigEndian.Uint64(d) == 0 {
			t.Errorf("digest entry %x, bucket %x", h, d)
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clean, err := store.Open(cleanDir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer clean.Close()
	q, err := s.Quarantined()
	if err != nil || len(q) != 1 || store.Compare(&q[0].Record, &bad) != 0 || s.QuarantinedAtOpen() != 1 {
		t.Fatalf("Quarantined = %+v, %v", q, err)
	}
	if s.DigestRoot() != clean.DigestRoot() {
		t.Fatal("the quarantined record's digest entry is left behind")
	}
}
