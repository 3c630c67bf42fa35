package replica

import (
	"context"
	"fmt"
	"testing"

	"github.com/edgeplane/edgeplane/store"
)

// TestDigestEconomy asserts what a sync costs in bytes and records read,
// not time: equal replicas of 100,000 keys exchange under 1 KB; replicas
// differing in 10 keys exchange under 64 KB and read under 1,000 records.
func TestDigestEconomy(t *testing.T) {
	s := newSimNet(t, 7, 2)
	a, b := s.nodes["n0"], s.nodes["n1"]
	recs := make([]store.Record, 100_000)
	for i := range recs {
		recs[i] = store.Record{Key: fmt.Sprintf("cfg/%06d", i), Value: []byte("value-of-about-thirty-bytes..."), Version: store.Stamp(1000 + i), Origin: "n9"}
	}
	for _, n := range []*simNode{a, b} {
		if _, err := n.st.Apply(recs); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	peer := Peer{Name: "n1", Addr: "n1"}

	s.bytes = 0
	res, err := a.r.SyncWith(ctx, peer)
	if err != nil || !res.Equal {
		t.Fatalf("sync of equal replicas = %+v, %v", res, err)
	}
	if s.bytes >= 1024 {
		t.Fatalf("equal replicas exchanged %d bytes, want under 1 KB", s.bytes)
	}

	for i := range 10 { // 5 newer on each side
		n := a
		if i%2 == 1 {
			n = b
		}
		if _, err := n.st.Put(fmt.Sprintf("cfg/%06d", i*9973), []byte("changed"), 0); err != nil {
			t.Fatal(err)
		}
	}
	s.bytes = 0
	readA, readB := a.st.RecordsRead(), b.st.RecordsRead()
	res, err = a.r.SyncWith(ctx, peer)
	// Both versions of each differing key cross once; each side keeps the
	// later by last-writer-wins.
	if err != nil || res.Received != 10 || res.Sent != 10 {
		t.Fatalf("sync of 10 differences = %+v, %v", res, err)
	}
	read := a.st.RecordsRead() - readA + b.st.RecordsRead() - readB
	t.Logf("10 differences: %d bytes, %d records read, %d buckets", s.bytes, read, res.BucketsDiffering)
	if s.bytes >= 64<<10 || read >= 1000 {
		t.Fatalf("10 differences cost %d bytes and %d records read", s.bytes, read)
	}
	if a.st.DigestRoot() != b.st.DigestRoot() {
		t.Fatal("replicas differ after the sync")
	}
}

// TestSyncOfFreshReplicaWithFullOne: one round between an empty replica
// and one holding more than a message can carry (6 MB, some values of
// 300 KB that share digest buckets) completes in either direction, in
// messages under the transport's limit.
func TestSyncOfFreshReplicaWithFullOne(t *testing.T) {
	for _, emptyCalls := range []bool{true, false} {
		t.Run(fmt.Sprintf("empty calls=%v", emptyCalls), func(t *testing.T) {
			s := newSimNet(t, 11, 2)
			full, empty := s.nodes["n0"], s.nodes["n1"]
			recs := make([]store.Record, 0, 30_010)
			for i := range 30_000 {
				recs = append(recs, store.Record{Key: fmt.Sprintf("cfg/%05d", i), Value: make([]byte, 100), Version: store.Stamp(100 + i), Origin: "n9"})
			}
			for i := range 10 {
				recs = append(recs, store.Record{Key: fmt.Sprintf("big/%d", i), Value: make([]byte, 300<<10), Version: 50, Origin: "n9"})
			}
			if _, err := full.st.Apply(recs); err != nil {
				t.Fatal(err)
			}
			caller, peer := full, empty
			if emptyCalls {
				caller, peer = empty, full
			}
			res, err := caller.r.SyncWith(context.Background(), Peer{Name: peer.name})
			if err != nil {
				t.Fatal(err)
			}
			if full.st.DigestRoot() != empty.st.DigestRoot() {
				t.Fatalf("replicas differ after one round (%+v)", res)
			}
			if s.largest > simMaxMessage/2 {
				t.Fatalf("largest message %d bytes", s.largest)
			}
			t.Logf("%d records in %d bytes, largest message %d bytes", res.Received+res.Sent, s.bytes, s.largest)
		})
	}
}
