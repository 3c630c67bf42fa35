package store

import (
	"bytes"
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestBulkLoadWritesIndexAtEnd: a bootstrap's chunks keep their index
// entries pending past the usual limit, local writes meanwhile too, and
// the chunk that ends the table writes them all; a crash before it (the
// file as the last commit left it) indexes the records again at open.
func TestBulkLoadWritesIndexAtEnd(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{NoSync: true})
	recs := make([]Checked, 3*pendingFlush/bulkChunk*bulkChunk)
	for i := range recs {
		recs[i] = Checked{rec: Record{Key: fmt.Sprintf("cfg/%06d", i), Value: []byte("v"),
			Version: MakeStamp(1_750_000_000_000+uint64(i), 0), Origin: fmt.Sprint("node-", i%3)}}
	}
	onDisk := func(s *Store) int {
		n := 0
		err := s.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucketKeys).Stats().KeyN; return nil })
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	last := len(recs) - bulkChunk
	after := ""
	for i := 0; i < last; i += bulkChunk {
		through := recs[i+bulkChunk-1].rec.Key
		if _, _, err := s.MergeRange(TableKV, after, through, recs[i:i+bulkChunk], func(*Record) bool { return false }); err != nil {
			t.Fatal(err)
		}
		after = through
		mustPut(t, s, fmt.Sprintf("local/%d", i), "x")
	}
	if n := onDisk(s); n != 0 || len(s.pend.m) != last+last/bulkChunk {
		t.Fatalf("mid-load: %d entries on disk, %d pending; want 0 and %d", n, len(s.pend.m), last+last/bulkChunk)
	}
	root, keys := s.DigestRoot(), indexEntries(t, s)
	crashed := t.TempDir()
	err := s.db.View(func(tx *bolt.Tx) error { return tx.CopyFile(crashed+"/"+FileName, 0o600) })
	if err != nil {
		t.Fatal(err)
	}
	c := openStore(t, crashed, Options{NoSync: true})
	if c.DigestRoot() != root || len(indexEntries(t, c)) != len(keys) || onDisk(c) != len(keys) {
		t.Fatalf("after a crash mid-load: digest root %#x (want %#x), %d entries (want %d)", c.DigestRoot(), root, len(indexEntries(t, c)), len(keys))
	}

	if _, _, err := s.MergeRange(TableKV, after, "", recs[last:], func(*Record) bool { return false }); err != nil {
		t.Fatal(err)
	}
	want := len(recs) + last/bulkChunk
	if n := onDisk(s); n != want || len(s.pend.m) != 0 {
		t.Fatalf("after the last chunk: %d entries on disk, %d pending; want %d and 0", n, len(s.pend.m), want)
	}
	if got := len(indexEntries(t, s)); got != want {
		t.Fatalf("BucketKeys has %d entries, want %d", got, want)
	}
}

// TestRestoreWritesIndexAtEnd: a restore keeps its index entries pending
// past the usual limit and writes them all when the stream ends.
func TestRestoreWritesIndexAtEnd(t *testing.T) {
	src := openStore(t, "", Options{NoSync: true})
	var recs []Record
	for i := range 3 * pendingFlush {
		recs = append(recs, Record{Key: fmt.Sprintf("cfg/%06d", i), Value: []byte("v"),
			Version: MakeStamp(1_750_000_000_000+uint64(i), 0), Origin: "node-a"})
	}
	if _, err := src.Apply(recs); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if _, err := src.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, "", Options{NoSync: true})
	if n, err := s.Restore(&snap); err != nil || n != len(recs) {
		t.Fatalf("Restore = %d, %v", n, err)
	}
	var onDisk int
	err := s.db.View(func(tx *bolt.Tx) error { onDisk = tx.Bucket(bucketKeys).Stats().KeyN; return nil })
	if err != nil || onDisk != len(recs) || len(s.pend.m) != 0 || s.DigestRoot() != src.DigestRoot() {
		t.Fatalf("after the restore: %d entries on disk (want %d), %d pending, roots %#x and %#x (%v)",
			onDisk, len(recs), len(s.pend.m), s.DigestRoot(), src.DigestRoot(), err)
	}
}

// TestPagesFilledWholeInKeyOrder: records written past a table's last key
// fill its pages whole; written in another order, they leave bbolt's
// default room.
func TestPagesFilledWholeInKeyOrder(t *testing.T) {
	fill := func(order func(i int) int) float64 {
		s := openStore(t, "", Options{NoSync: true})
		const n = 4000
		var recs []Record
		for i := range n {
			recs = append(recs, Record{Key: fmt.Sprintf("cfg/%06d", order(i)), Value: make([]byte, 100),
				Version: MakeStamp(1_750_000_000_000+uint64(i), 0), Origin: "node-a"})
		}
		for i := 0; i < n; i += 100 {
			if _, err := s.Apply(recs[i : i+100]); err != nil {
				t.Fatal(err)
			}
		}
		var st bolt.BucketStats
		if err := s.db.View(func(tx *bolt.Tx) error { st = tx.Bucket(bucketKV).Stats(); return nil }); err != nil {
			t.Fatal(err)
		}
		return float64(st.LeafInuse) / float64(st.LeafAlloc)
	}
	inOrder := fill(func(i int) int { return i })
	scattered := fill(func(i int) int { return (i * 7919) % 4000 })
	if inOrder < 0.9 || scattered > 0.85 {
		t.Fatalf("leaf pages %.0f%% full in key order, %.0f%% scattered", 100*inOrder, 100*scattered)
	}
}
