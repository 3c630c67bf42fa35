package store

import (
	"context"
	"testing"
	"time"
)

func TestWatchFiresOnlyForCoveredKeys(t *testing.T) {
	s := openStore(t, "", Options{})
	exact := s.Watch("app/a", false)
	prefix := s.Watch("app/", true)
	other := s.Watch("web/", true)
	defer other.Stop()

	mustPut(t, s, "app/ab", "v") // under the prefix, not the exact key
	<-prefix.C
	select {
	case <-exact.C:
		t.Fatal("exact watch on app/a fired for app/ab")
	case <-other.C:
		t.Fatal("watch on web/ fired for app/ab")
	default:
	}
	mustPut(t, s, "app/a", "v")
	<-exact.C
}

func TestWaitIndex(t *testing.T) {
	s := openStore(t, "", Options{})
	e := mustPut(t, s, "k", "v")

	// Already past: returns at once.
	if idx, err := s.WaitIndex(context.Background(), "k", false, e.ModifyIndex-1); err != nil || idx != e.ModifyIndex {
		t.Fatalf("WaitIndex past = %d, %v", idx, err)
	}

	// Times out with the index unchanged.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if idx, err := s.WaitIndex(ctx, "k", false, e.ModifyIndex); err != nil || idx != e.ModifyIndex {
		t.Fatalf("WaitIndex timeout = %d, %v", idx, err)
	}

	// Wakes on a change to a missing key under a prefix.
	after := s.Index()
	done := make(chan uint64)
	go func() {
		idx, _ := s.WaitIndex(context.Background(), "new/", true, after)
		done <- idx
	}()
	e2 := mustPut(t, s, "new/x", "v")
	if got := <-done; got != e2.ModifyIndex {
		t.Fatalf("WaitIndex woke with %d, want %d", got, e2.ModifyIndex)
	}
}

func TestWaitIndexEndsOnClose(t *testing.T) {
	s := openStore(t, "", Options{})
	done := make(chan error)
	go func() {
		_, err := s.WaitIndex(context.Background(), "k", false, 100)
		done <- err
	}()
	s.Close()
	<-done
}

// TestWaitOnMissingKeyOfFreshStore: the index reported for a missing key
// must be passed by the key's creation, even when that is the store's
// very first write (index 1), for a key or for a prefix.
func TestWaitOnMissingKeyOfFreshStore(t *testing.T) {
	for _, prefix := range []bool{false, true} {
		s := openStore(t, "", Options{})
		idx, err := s.indexOf("k", prefix)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan uint64, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got, _ := s.WaitIndex(ctx, "k", prefix, idx)
			done <- got
		}()
		e := mustPut(t, s, "k", "v")
		if got := <-done; got != e.ModifyIndex || got <= idx {
			t.Fatalf("prefix=%v: waited past %d, woke at %d, write at %d", prefix, idx, got, e.ModifyIndex)
		}
	}
}
