package store

import (
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestLegacyDigestBucketsAreReplaced: a file that holds the on-disk digest
// buckets and index of an earlier release (which may have written records
// since the index was last updated) gets its index rebuilt from the
// records and loses the earlier buckets, so that the earlier release, were
// it to open the file again, rebuilds them from the records too.
func TestLegacyDigestBucketsAreReplaced(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{NoSync: true})
	var recs []Record
	for i := range 50 {
		recs = append(recs, Record{Key: fmt.Sprintf("k/%02d", i), Value: []byte("v"), Version: Stamp(100 + i), Origin: "n"})
	}
	if _, err := s.Apply(recs[:40]); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// The earlier release writes ten records, its digest buckets and its
	// index, and leaves this release's index as it was.
	db, err := bolt.Open(dir+"/"+FileName, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketDigest, bucketIndex} {
			b, err := tx.CreateBucket(name)
			if err != nil {
				return err
			}
			if err := b.Put([]byte{0, 1}, make([]byte, 8)); err != nil {
				return err
			}
		}
		kv := tx.Bucket(bucketKV)
		for i := 40; i < 50; i++ {
			e := Entry{Record: recs[i], CreateIndex: uint64(100 + i), ModifyIndex: uint64(100 + i)}
			if err := kv.Put([]byte(recs[i].Key), appendEntry(nil, &e)); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir, Options{NoSync: true})
	want := openStore(t, "", Options{NoSync: true})
	if _, err := want.Apply(recs); err != nil {
		t.Fatal(err)
	}
	if s.DigestRoot() != want.DigestRoot() {
		t.Fatal("digest after the earlier release's writes differs from a store holding the same records")
	}
	keys, err := s.BucketKeys([]int{BucketOf("k/45")})
	if err != nil || len(keys) == 0 {
		t.Fatalf("BucketKeys = %v, %v", keys, err)
	}
	err = s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketDigest) != nil || tx.Bucket(bucketIndex) != nil {
			t.Error("the earlier release's digest buckets are still in the file")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDigestSurvivesReopen: the digest computed at open from the index is
// the one the writes built.
func TestDigestSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{NoSync: true})
	for i := range 100 {
		mustPut(t, s, fmt.Sprintf("k/%03d", i), "v")
	}
	if _, err := s.Delete("k/007", nil); err != nil {
		t.Fatal(err)
	}
	root := s.DigestRoot()
	s.Close()
	s = openStore(t, dir, Options{NoSync: true})
	if got := s.DigestRoot(); got != root {
		t.Fatalf("root after reopen %#x, want %#x", got, root)
	}
}
