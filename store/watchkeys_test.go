package store

import (
	"context"
	"testing"
	"time"
)

func TestWatchKeysFiresOnlyForCoveredKeys(t *testing.T) {
	s := openStore(t, "", Options{})
	w := s.WatchKeys([]WatchKey{{Key: "a/x"}, {Key: "b/", Prefix: true}})
	defer w.Stop()
	mustPut(t, s, "a/xy", "v") // neither the key nor under the prefix
	mustPut(t, s, "c/x", "v")
	select {
	case <-w.C:
		t.Fatal("watch fired for keys it does not cover")
	default:
	}
	mustPut(t, s, "b/deep/k", "v")
	<-w.C
	w2 := s.WatchKeys([]WatchKey{{Key: "a/x"}, {Key: "b/", Prefix: true}})
	defer w2.Stop()
	mustPut(t, s, "a/x", "v")
	<-w2.C
}

// maxIndexOf is an index function over the keys a/x and b/x.
func maxIndexOf(keys ...string) func(tx *Tx) (uint64, error) {
	return func(tx *Tx) (uint64, error) {
		var idx uint64
		for _, k := range keys {
			e, found, err := tx.Get(TableKV, k)
			if err != nil {
				return 0, err
			}
			if found {
				idx = max(idx, e.ModifyIndex)
			}
		}
		return tx.FloorIndex(idx), nil
	}
}

func TestWaitKeysWakesForItsKeysOnly(t *testing.T) {
	s := openStore(t, "", Options{})
	keys := []WatchKey{{Key: "a/x"}, {Key: "b/x"}}
	index := maxIndexOf("a/x", "b/x")
	first := mustPut(t, s, "a/x", "v")

	// Already past: at once.
	if idx, err := s.WaitKeys(context.Background(), keys, first.ModifyIndex-1, index); err != nil || idx != first.ModifyIndex {
		t.Fatalf("WaitKeys past = %d, %v; want %d", idx, err, first.ModifyIndex)
	}

	// Writes to other keys do not answer it; the first write to one of
	// its keys does, with that write's index.
	done := make(chan uint64, 1)
	go func() {
		idx, _ := s.WaitKeys(context.Background(), keys, first.ModifyIndex, index)
		done <- idx
	}()
	for i := range 5 {
		mustPut(t, s, "other/"+string(rune('a'+i)), "v")
	}
	e := mustPut(t, s, "b/x", "v")
	if got := <-done; got != e.ModifyIndex {
		t.Fatalf("WaitKeys woke with %d, want the index of b/x %d", got, e.ModifyIndex)
	}

	// A delete is a change too.
	go func() {
		idx, _ := s.WaitKeys(context.Background(), keys, e.ModifyIndex, index)
		done <- idx
	}()
	if _, err := s.Delete("a/x", nil); err != nil {
		t.Fatal(err)
	}
	tomb, _, _, _ := s.Get("a/x")
	if got := <-done; got != tomb.ModifyIndex || got <= e.ModifyIndex {
		t.Fatalf("WaitKeys after delete = %d, want %d", got, tomb.ModifyIndex)
	}
}

func TestWaitKeysTimesOutAndEndsOnClose(t *testing.T) {
	s := openStore(t, "", Options{})
	keys := []WatchKey{{Key: "k"}}
	index := maxIndexOf("k")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if idx, err := s.WaitKeys(ctx, keys, 1, index); err != nil || idx != 1 {
		t.Fatalf("WaitKeys on timeout = %d, %v; want 1 (floored), nil", idx, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.WaitKeys(context.Background(), keys, 1, index)
		done <- err
	}()
	s.Close()
	if err := <-done; err == nil {
		t.Fatal("WaitKeys on a closed store returned no error")
	}
}
