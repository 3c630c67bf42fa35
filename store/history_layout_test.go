package store

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// storeView is what the store shows of its records through every read
// that walks them.
func storeView(t *testing.T, s *Store) string {
	t.Helper()
	var b bytes.Buffer
	show := func(what string, v any, err error) {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		fmt.Fprintf(&b, "%s: %+v\n", what, v)
	}
	for _, p := range []string{"", "a", "a/", "a\u00ff"} {
		es, idx, err := s.List(p)
		show("List "+p, fmt.Sprint(es, idx), err)
		ks, idx, err := s.Keys(p, "/")
		show("Keys "+p, fmt.Sprint(ks, idx), err)
		pg, err := s.ListPage(p, "", 1<<20)
		show("ListPage "+p, pg, err)
		pg, err = s.KeysPage(p, "/", "", 1<<20)
		show("KeysPage "+p, pg, err)
	}
	recs, err := s.ScanAfter(TableKV, "", 1000)
	show("ScanAfter", recs, err)
	recs, err = s.ScanAfter(TableKV, "a", 1000)
	show("ScanAfter a", recs, err)
	var snap bytes.Buffer
	n, err := s.Snapshot(&snap)
	show("Snapshot", fmt.Sprint(n, snap.Bytes()), err)
	var scanned []Entry
	err = s.View(func(tx *Tx) error {
		return tx.Scan(TableKV, "", func(e *Entry) error { scanned = append(scanned, *e); return nil })
	})
	show("Tx.Scan", scanned, err)
	show("DigestRoot", s.DigestRoot(), nil)
	show("DigestBucketHashes", s.DigestBucketHashes(), nil)
	all := make([]int, DigestBuckets)
	for i := range all {
		all[i] = i
	}
	khs, err := s.BucketKeys(all)
	show("BucketKeys", khs, err)
	recs, err = s.Records(TableKV, []string{"a", "b", "a\xff"})
	show("Records", recs, err)
	q, err := s.Quarantined()
	show("Quarantined", fmt.Sprint(q, s.QuarantinedAtOpen()), err)
	return b.String()
}

// TestHistoryOutOfRecords: the versions kept beside the kv records are
// in no list, page, scan, snapshot, digest or count of the records, the
// quarantine keeps out of them, and tombstone collection, DeleteTree,
// Compact and Open read past them.
func TestHistoryOutOfRecords(t *testing.T) {
	dir := t.TempDir()
	opts := Options{NoSync: true, HistoryVersions: 10}
	s := openStore(t, dir, opts)
	keys := []string{"a", "a/b", "a/c/d", "a\u00ff", "a\u00ff/x", "b", "c", "z\U0010ffff"}
	for i := range 4 {
		for _, k := range keys {
			mustPut(t, s, k, fmt.Sprintf("%s=%d", k, i))
		}
	}
	if _, err := s.Delete("c", nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.HistoryBytes(); n == 0 {
		t.Fatal("no history written")
	}
	s.Close()
	s = openStore(t, dir, opts)
	with := storeView(t, s)
	if hs := history(t, s, HistoryQuery{Key: "a"}); len(hs) != 4 {
		t.Fatalf("history of a: %d versions, want 4", len(hs))
	}
	s.Close()

	// The same file without its versions shows the same.
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		kv := tx.Bucket(bucketKV)
		var doomed [][]byte
		err := kv.ForEach(func(k, _ []byte) error {
			if isHistoryKey(k) {
				doomed = append(doomed, bytes.Clone(k))
			}
			return nil
		})
		if err != nil || len(doomed) < 3*len(keys) {
			return fmt.Errorf("%d versions in the kv bucket, %v", len(doomed), err)
		}
		for _, k := range doomed {
			if err := kv.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, opts)
	if without := storeView(t, s); without != with {
		t.Fatalf("with history:\n%s\nwithout:\n%s", with, without)
	}
	s.Close()

	// Writes that walk the records, with history present.
	s = openStore(t, dir, opts)
	mustPut(t, s, "a/b", "again")
	if _, err := s.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if hs := history(t, s, HistoryQuery{Key: "a/b"}); len(hs) != 2 {
		t.Fatalf("history of a/b after Compact: %+v", hs)
	}
	if n, err := s.DeleteTree("a"); err != nil || n != 5 {
		t.Fatalf("DeleteTree(a) = %d, %v; want 5", n, err)
	}
	if n, err := s.CollectTombstones(s.Clock().Now()); err != nil || n != 6 {
		t.Fatalf("CollectTombstones = %d, %v; want 6", n, err)
	}
	if es, _, err := s.List(""); err != nil || len(es) != 2 {
		t.Fatalf("List after DeleteTree and collection: %+v, %v", es, err)
	}
	if hs := history(t, s, HistoryQuery{Key: "a/b"}); len(hs) != 3 || !hs[0].Deleted {
		t.Fatalf("history of a/b after DeleteTree: %+v", hs)
	}
}
