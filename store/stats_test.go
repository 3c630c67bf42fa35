package store

import (
	"fmt"
	"testing"
	"time"
)

// TestStatsCommits: each write that commits adds one commit to the
// histogram, in a bucket, with its time in the sum; a write that writes
// nothing (a failed check-and-set) and a read add none, and count no
// write error.
func TestStatsCommits(t *testing.T) {
	s := openStore(t, "", Options{})
	before := s.Stats()
	if before.Commits.Count != 0 || before.WriteErrors != 0 || before.PageSize <= 0 {
		t.Fatalf("a new store's stats: %+v", before)
	}
	mustPut(t, s, "a", "1")
	mustPut(t, s, "b", "2")
	if _, ok, err := s.CAS("a", []byte("x"), 0, ptr(12345)); err != nil || ok {
		t.Fatalf("CAS at a wrong index: %v, %v", ok, err)
	}
	if _, _, _, err := s.Get("a"); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Commits.Count != 2 || st.WriteErrors != 0 {
		t.Errorf("after two writes: %d commits, %d write errors", st.Commits.Count, st.WriteErrors)
	}
	var sum uint64
	for _, c := range st.Commits.Counts {
		sum += c
	}
	if sum != st.Commits.Count || len(st.Commits.Counts) != len(st.Commits.Bounds)+1 || st.Commits.Sum <= 0 {
		t.Errorf("histogram %+v", st.Commits)
	}
}

// TestStatsFreePages: deleting what was written leaves pages of the data
// file free for reuse.
func TestStatsFreePages(t *testing.T) {
	s := openStore(t, "", Options{NoSync: true})
	val := make([]byte, 2000)
	for i := range 200 {
		if _, err := s.Put(fmt.Sprintf("k/%04d", i), val, 0); err != nil {
			t.Fatal(err)
		}
	}
	before := s.Stats().FreePages
	if _, err := s.DeleteTree("k/"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CollectTombstones(s.Clock().Now()); err != nil {
		t.Fatal(err)
	}
	if after := s.Stats().FreePages; after <= before {
		t.Errorf("free pages %d after deleting 200 values of 2000 bytes, %d before", after, before)
	}
}

func TestLatencyBuckets(t *testing.T) {
	var l latency
	for _, d := range []time.Duration{0, time.Millisecond, time.Millisecond + 1, 10 * time.Second, time.Hour} {
		l.observe(d)
	}
	h := l.snapshot()
	want := map[int]uint64{0: 2, 1: 1, len(CommitBounds) - 1: 1, len(CommitBounds): 1}
	for i, c := range h.Counts {
		if c != want[i] {
			t.Errorf("bucket %d (bound %v): %d, want %d", i, h.Bounds[min(i, len(h.Bounds)-1)], c, want[i])
		}
	}
	if h.Count != 5 || h.Sum != time.Hour+10*time.Second+2*time.Millisecond+1 {
		t.Errorf("count %d, sum %v", h.Count, h.Sum)
	}
}
