package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// drainFeed reads sub until it has n changes, failing on a resync.
func drainFeed(t *testing.T, sub *Subscription, n int) []Change {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []Change
	for len(out) < n {
		changes, resync, err := sub.Next(ctx)
		if err != nil || resync {
			t.Fatalf("after %d of %d changes: resync %v, %v", len(out), n, resync, err)
		}
		out = append(out, changes...)
	}
	return out
}

// TestFeedOrderAndSources: two subscribers see every committed change of
// every table in commit order, each with its source, from concurrent
// writers; a subscriber for some sources sees only those.
func TestFeedOrderAndSources(t *testing.T) {
	s := openStore(t, "", Options{})
	a, b := s.Subscribe("a", 1000), s.Subscribe("b", 1000)
	remoteOnly := s.Subscribe("remote", 1000, SourceRemote)
	defer a.Close()
	defer b.Close()
	defer remoteOnly.Close()
	const writers, each = 4, 25
	done := make(chan error, writers)
	for w := range writers {
		go func() {
			var err error
			for i := 0; i < each && err == nil; i++ {
				_, err = s.Put(fmt.Sprintf("w%d/%02d", w, i), []byte("v"), 0)
			}
			done <- err
		}()
	}
	for range writers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	rec := Record{Table: testTable, Key: "r", Value: []byte("v"), Version: s.Clock().Now(), Origin: "peer"}
	if _, err := s.Apply([]Record{rec}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete("w0/00", nil); err != nil {
		t.Fatal(err)
	}
	const total = writers*each + 2
	ca, cb := drainFeed(t, a, total), drainFeed(t, b, total)
	for i := range ca {
		if ca[i].Key != cb[i].Key || ca[i].Index != cb[i].Index || ca[i].Source != cb[i].Source {
			t.Fatalf("change %d: %+v and %+v", i, ca[i], cb[i])
		}
		if i > 0 && ca[i].Index <= ca[i-1].Index {
			t.Fatalf("change %d out of commit order: index %d after %d", i, ca[i].Index, ca[i-1].Index)
		}
	}
	last, remote := ca[total-1], ca[total-2]
	if !last.Deleted || last.Source != SourceLocal || last.Table != TableKV {
		t.Fatalf("last change %+v: want the local kv tombstone", last)
	}
	if remote.Source != SourceRemote || remote.Table != testTable || remote.Removed() {
		t.Fatalf("change %+v: want the remote record of %s", remote, testTable)
	}
	if got := drainFeed(t, remoteOnly, 1); len(got) != 1 || got[0].Key != "r" {
		t.Fatalf("the remote-only subscriber got %+v", got)
	}
	if changes, resync := remoteOnly.Poll(); len(changes) != 0 || resync {
		t.Fatalf("the remote-only subscriber got %+v more", changes)
	}
}

// TestFeedStalledSubscriber: commits complete while a subscriber never
// reads; it is told to resync instead of receiving what it missed, and
// counts the drop. Another subscriber misses nothing.
func TestFeedStalledSubscriber(t *testing.T) {
	s := openStore(t, "", Options{NoSync: true})
	stalled := s.Subscribe("stalled", 8)
	defer stalled.Close()
	reader := s.Subscribe("reader", 1000)
	defer reader.Close()
	for i := range 100 { // far past the stalled queue: none of these may wait for it
		mustPut(t, s, fmt.Sprintf("k%03d", i), "v")
	}
	if got := drainFeed(t, reader, 100); len(got) != 100 {
		t.Fatalf("reader got %d changes", len(got))
	}
	changes, resync, err := stalled.Next(context.Background())
	if err != nil || !resync || stalled.Dropped() == 0 {
		t.Fatalf("stalled subscriber: %d changes, resync %v, dropped %d, %v", len(changes), resync, stalled.Dropped(), err)
	}
	if uint64(len(changes))+stalled.Dropped() != 100 {
		t.Fatalf("%d changes delivered and %d dropped, want 100 in all", len(changes), stalled.Dropped())
	}
	// After a resync it follows again.
	mustPut(t, s, "after", "v")
	if got := drainFeed(t, stalled, 1); got[0].Key != "after" {
		t.Fatalf("after resync: %+v", got)
	}
}

// TestFeedBoundsBytes: a subscriber's queue holds at most MaxFeedBytes of
// keys and values, however few changes that is.
func TestFeedBoundsBytes(t *testing.T) {
	s := openStore(t, "", Options{NoSync: true})
	sub := s.Subscribe("big", 1000)
	defer sub.Close()
	big := Change{Record: Record{Key: "big", Value: make([]byte, MaxValueLen)}, Source: SourceLocal}
	n := MaxFeedBytes / (len(big.Key) + len(big.Value))
	for range n {
		sub.publish([]Change{big})
	}
	if changes, resync := sub.Poll(); len(changes) != n || resync {
		t.Fatalf("%d changes, resync %v: want %d within the bound", len(changes), resync, n)
	}
	for range n + 1 {
		sub.publish([]Change{big})
	}
	if _, resync := sub.Poll(); !resync || sub.Dropped() != uint64(n+1) {
		t.Fatalf("resync %v, dropped %d: want a resync past MaxFeedBytes", resync, sub.Dropped())
	}
}

// TestFeedReportsRemovalsAndRestores: collected tombstones, records a
// bootstrap forgets and restored records reach the feed with their
// sources.
func TestFeedReportsRemovalsAndRestores(t *testing.T) {
	src := openStore(t, "", Options{})
	mustPut(t, src, "restored", "v")
	var snap bytes.Buffer
	if _, err := src.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, "", Options{})
	sub := s.Subscribe("all", 100)
	defer sub.Close()
	mustPut(t, s, "gone", "v")
	if _, err := s.Delete("gone", nil); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "forgotten", "v")
	if _, err := s.CollectTombstones(s.Clock().Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.MergeRange(TableKV, "f", "fz", nil, func(*Record) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Restore(&snap); err != nil || n != 1 {
		t.Fatalf("Restore = %d, %v", n, err)
	}
	want := []struct {
		key string
		src Source
	}{{"gone", SourceLocal}, {"gone", SourceLocal}, {"forgotten", SourceLocal},
		{"gone", SourceCollected}, {"forgotten", SourceForgotten}, {"restored", SourceRestore}}
	got := drainFeed(t, sub, len(want))
	for i, w := range want {
		if got[i].Key != w.key || got[i].Source != w.src || got[i].Removed() != (w.src == SourceCollected || w.src == SourceForgotten) {
			t.Fatalf("change %d: %s %v, want %s %v", i, got[i].Key, got[i].Source, w.key, w.src)
		}
	}
}

// TestFeedClose: Next ends with ErrClosed when the subscription or the
// store closes, and with the context's error when it ends.
func TestFeedClose(t *testing.T) {
	s := openStore(t, "", Options{})
	sub := s.Subscribe("a", 10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := sub.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with an ended context: %v", err)
	}
	sub.Close()
	sub.Close()
	if _, _, err := sub.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	other := s.Subscribe("b", 10)
	result := make(chan error, 1)
	go func() { _, _, err := other.Next(context.Background()); result <- err }()
	s.Close()
	if err := <-result; !errors.Is(err, ErrClosed) {
		t.Fatalf("Next across the store's Close: %v", err)
	}
	if _, _, err := s.Subscribe("late", 10).Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next of a subscription made after Close: %v", err)
	}
}
