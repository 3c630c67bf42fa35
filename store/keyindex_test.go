package store

import (
	"fmt"
	"strings"
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

// indexEntries returns the index entries of every bucket.
func indexEntries(t *testing.T, s *Store) []KeyHash {
	t.Helper()
	all := make([]int, DigestBuckets)
	for i := range all {
		all[i] = i
	}
	keys, err := s.BucketKeys(all)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestIndexWrittenBehind: index entries pending in memory answer
// BucketKeys as those on disk do, with their records' hashes and versions, a crash (the file as its last commit
// left it) loses none of them, and the writes past the pending limit, the
// removals of collected tombstones and a clean close agree with it.
func TestIndexWrittenBehind(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{NoSync: true})
	var recs []Record
	for i := range pendingFlush + 300 {
		recs = append(recs, Record{Key: fmt.Sprintf("k/%05d", i), Value: []byte("v"), Version: Stamp(1000 + i), Origin: "n"})
		if i%7 == 0 {
			recs[i].Value, recs[i].Deleted = nil, true
		}
	}
	for i := 0; i < len(recs); i += 100 {
		if _, err := s.Apply(recs[i:min(i+100, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.CollectTombstones(1000 + 50); err != nil || n != 8 {
		t.Fatalf("CollectTombstones = %d, %v", n, err)
	}
	for i := range 20 {
		mustPut(t, s, fmt.Sprintf("k/%05d", i*13), "changed")
	}
	if len(s.pend.m) == 0 || len(s.pend.m) >= pendingFlush {
		t.Fatalf("%d entries pending: the test wants some", len(s.pend.m))
	}
	root, keys := s.DigestRoot(), indexEntries(t, s)
	if n := len(keys); n != len(recs)-8+1 { // k/00000 was collected, then written again
		t.Fatalf("BucketKeys has %d entries, want %d", n, len(recs)-8+1)
	}
	crashed := t.TempDir()
	err := s.db.View(func(tx *bolt.Tx) error { return tx.CopyFile(crashed+"/"+FileName, 0o600) })
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, o *Store) {
		t.Helper()
		if o.DigestRoot() != root {
			t.Errorf("%s: digest root differs", name)
		}
		got := indexEntries(t, o)
		if len(got) != len(keys) {
			t.Fatalf("%s: %d index entries, want %d", name, len(got), len(keys))
		}
		for i := range got {
			if got[i] != keys[i] {
				t.Fatalf("%s: entry %d is %+v, want %+v", name, i, got[i], keys[i])
			}
		}
		for _, kh := range got {
			recs, err := o.Records(kh.Table, []string{kh.Key})
			if err != nil || len(recs) != 1 || RecordHash(&recs[0]) != kh.Hash {
				t.Fatalf("%s: %q: index hash %x does not match its record (%v)", name, kh.Key, kh.Hash, err)
			}
			if recs[0].Version != kh.Version {
				t.Fatalf("%s: %q: index version %d, its record's %d", name, kh.Key, kh.Version, recs[0].Version)
			}
		}
	}
	check("crashed", openStore(t, crashed, Options{NoSync: true}))
	s.Close()
	check("closed", openStore(t, dir, Options{NoSync: true}))
}

// TestPendingIndexBoundedInBytes: long keys go to disk once their bytes
// reach the bound, well before the entry count does.
func TestPendingIndexBoundedInBytes(t *testing.T) {
	s := openStore(t, "", Options{NoSync: true})
	long := strings.Repeat("k", 4000)
	most := 0
	for i := range 2 * pendingFlushBytes / len(long) {
		mustPut(t, s, fmt.Sprintf("%s/%04d", long, i), "v")
		most = max(most, s.pend.bytes)
	}
	if most >= pendingFlushBytes+4100 || s.pend.bytes >= pendingFlushBytes {
		t.Fatalf("pending keys reached %d bytes (now %d), bound %d", most, s.pend.bytes, pendingFlushBytes)
	}
	if n := len(indexEntries(t, s)); n != 2*pendingFlushBytes/len(long) {
		t.Fatalf("%d index entries", n)
	}
}
