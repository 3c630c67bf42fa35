package store

import (
	"fmt"
	"os"
	"slices"
	"testing"
)

// pinnedRecords is a fixed data set whose kv digest root is pinned below.
func pinnedRecords() []Record {
	var recs []Record
	for i := range 500 {
		r := Record{Key: fmt.Sprintf("cfg/%03d", i), Value: []byte(fmt.Sprint("value ", i)),
			Flags: uint64(i % 7), Version: MakeStamp(1_750_000_000_000+uint64(i), uint16(i%3)), Origin: fmt.Sprint("node-", i%5)}
		if i%11 == 0 {
			r.Value, r.Deleted = nil, true
		}
		recs = append(recs, r)
	}
	return recs
}

// pinnedRoot is the digest root of pinnedRecords as every release before
// tables computed it: a node that holds only kv records must keep it, or
// it would sync forever with peers running those releases.
const pinnedRoot = 0xd098fc6ac5e6d83a

// TestKVDigestIsPinned: the kv records of a known data set have the
// digest root they always had, whatever tables are declared, and records
// of another table change it.
func TestKVDigestIsPinned(t *testing.T) {
	s := openStore(t, "", Options{NoSync: true})
	if _, err := s.Apply(pinnedRecords()); err != nil {
		t.Fatal(err)
	}
	if got := s.DigestRoot(); got != pinnedRoot {
		t.Fatalf("kv digest root %#x, want %#x", got, uint64(pinnedRoot))
	}
	other := pinnedRecords()[1]
	other.Table = testTable
	if _, err := s.Apply([]Record{other}); err != nil {
		t.Fatal(err)
	}
	if s.DigestRoot() == pinnedRoot {
		t.Fatal("a record of another table left the digest unchanged")
	}
}

// TestRestoreSnapshotV1: a snapshot written before tables existed
// (testdata/snapshot-v1.snap: 40 records of pinnedRecords and one whose
// key is not valid UTF-8) restores into kv, its bad key quarantined.
func TestRestoreSnapshotV1(t *testing.T) {
	f, err := os.Open("testdata/snapshot-v1.snap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := openStore(t, "", Options{NoSync: true})
	res, err := s.RestoreWith(f, RestoreOptions{})
	if err != nil || res.Changed != 40 || !slices.Equal(res.Quarantined, []string{"poison/\xff\xfe"}) {
		t.Fatalf("RestoreWith = %+v, %v", res, err)
	}
	want := pinnedRecords()[:40]
	for i := range want {
		got, found, _, err := s.Get(want[i].Key)
		if err != nil || !found || Compare(&got.Record, &want[i]) != 0 {
			t.Fatalf("%s: %+v, %v", want[i].Key, got.Record, err)
		}
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := VerifySnapshot(f); err != nil || n != 41 {
		t.Fatalf("VerifySnapshot = %d, %v", n, err)
	}
}
