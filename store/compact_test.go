package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fillScattered writes n keys in an order that scatters them over the
// file, overwrites each, deletes a third and collects the deletes: a file
// with free pages and half-full ones.
func fillScattered(t *testing.T, s *Store, n int) {
	t.Helper()
	val := make([]byte, 100)
	for round := range 2 {
		var recs []Record
		for i := range n {
			k := (i * 7919) % n
			recs = append(recs, Record{Key: fmt.Sprintf("cfg/%06d", k), Value: val,
				Version: MakeStamp(1_750_000_000_000+uint64(round*n+i), 0), Origin: fmt.Sprint("node-", k%3)})
			if round == 1 && k%3 == 0 {
				recs[i].Value, recs[i].Deleted = nil, true
			}
		}
		for i := 0; i < len(recs); i += 50 {
			if _, err := s.Apply(recs[i:min(i+50, len(recs))]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.CollectTombstones(MakeStamp(1_750_000_000_000+uint64(2*n), 0)); err != nil {
		t.Fatal(err)
	}
}

// storeState is what a compaction must keep: every record, the digest,
// the index entries and the local index.
func storeState(t *testing.T, s *Store) (recs []Record, root uint64, keys []KeyHash, index uint64) {
	t.Helper()
	var err error
	if recs, err = s.ScanAfter(TableKV, "", 1<<30); err != nil {
		t.Fatal(err)
	}
	return recs, s.DigestRoot(), indexEntries(t, s), s.Index()
}

func sameState(t *testing.T, name string, s *Store, recs []Record, root uint64, keys []KeyHash, index uint64) {
	t.Helper()
	r2, root2, k2, i2 := storeState(t, s)
	if len(r2) != len(recs) || root2 != root || len(k2) != len(keys) || i2 != index {
		t.Fatalf("%s: %d records, root %#x, %d index entries, index %d; want %d, %#x, %d, %d",
			name, len(r2), root2, len(k2), i2, len(recs), root, len(keys), index)
	}
	for i := range recs {
		if Compare(&recs[i], &r2[i]) != 0 {
			t.Fatalf("%s: record %d is %+v, want %+v", name, i, r2[i], recs[i])
		}
	}
	for i := range keys {
		if keys[i] != k2[i] {
			t.Fatalf("%s: index entry %d is %+v, want %+v", name, i, k2[i], keys[i])
		}
	}
}

// TestCompactWhileOpen: a compaction shrinks a file of scattered writes,
// keeps every record, the digest and the indexes, lets reads go on while
// it copies, and the store writes and reopens after it.
func TestCompactWhileOpen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{NoSync: true})
	fillScattered(t, s, 3000)
	recs, root, keys, index := storeState(t, s)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var readErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil && i < 1_000_000; i++ {
			k := fmt.Sprintf("cfg/%06d", (i%3000/3)*3+1)
			if _, found, _, err := s.Get(k); err != nil || !found {
				readErr = fmt.Errorf("Get(%s) during the compaction: %v, %v", k, found, err)
				return
			}
		}
	}()
	res, err := s.Compact(context.Background())
	cancel()
	wg.Wait()
	if err != nil || readErr != nil {
		t.Fatal(err, readErr)
	}
	if res.After >= res.Before {
		t.Errorf("compaction from %d to %d bytes", res.Before, res.After)
	}
	t.Logf("%d bytes compacted to %d", res.Before, res.After)
	sameState(t, "compacted", s, recs, root, keys, index)
	mustPut(t, s, "after", "x")
	recs, root, keys, index = storeState(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	sameState(t, "reopened", openStore(t, dir, Options{NoSync: true}), recs, root, keys, index)
	if _, err := os.Stat(filepath.Join(dir, FileName+compactSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the compaction's copy is left: %v", err)
	}
}

// TestCompactCutShort: a compaction stopped at either side of its rename,
// as a crash would stop it, leaves a store that opens with everything it
// held, and the copy of one stopped before the rename is removed at open.
func TestCompactCutShort(t *testing.T) {
	for _, step := range []string{"copied", "renamed"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, Options{NoSync: true})
			fillScattered(t, s, 500)
			recs, root, keys, index := storeState(t, s)
			crash := errors.New("crash")
			compactFault = func(at string) error {
				if at == step {
					return crash
				}
				return nil
			}
			t.Cleanup(func() { compactFault = nil })
			if _, err := s.Compact(context.Background()); !errors.Is(err, crash) {
				t.Fatalf("Compact = %v, want the crash", err)
			}
			compactFault = nil
			sameState(t, "after the cut", s, recs, root, keys, index)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			sameState(t, "reopened", openStore(t, dir, Options{NoSync: true}), recs, root, keys, index)
			if _, err := os.Stat(filepath.Join(dir, FileName+compactSuffix)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the compaction's copy is left after open: %v", err)
			}
		})
	}
}

// TestCompactWaitsForWrites: writes made while a compaction runs wait for
// it and are in the compacted file; a closed store refuses to compact.
func TestCompactWaitsForWrites(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{NoSync: true})
	fillScattered(t, s, 1000)
	errs := make(chan error, 1)
	go func() {
		_, err := s.Compact(context.Background())
		errs <- err
	}()
	for i := range 20 {
		mustPut(t, s, fmt.Sprintf("during/%02d", i), "x")
	}
	select {
	case err := <-errs:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("no compaction within a minute")
	}
	s.Close()
	s = openStore(t, dir, Options{NoSync: true})
	if list, _, err := s.List("during/"); err != nil || len(list) != 20 {
		t.Fatalf("List = %d, %v", len(list), err)
	}
	s.Close()
	if _, err := s.Compact(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Compact on a closed store = %v", err)
	}
}
