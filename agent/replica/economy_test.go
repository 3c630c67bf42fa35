package replica

import (
	"context"
	"fmt"
	"testing"

	"github.com/edgeplane/edgeplane/store"
)

// TestDigestEconomy asserts what a sync costs in bytes and records read,
// not time, between replicas of 100,000 keys, half of the differing keys
// newer on each side: equal replicas exchange under 1 KB; each differing
// key's record crosses once, from the newer side, and is the only record
// read: 10 differing keys cost under 8 KB (the exchange of releases
// before group hashes: 44 KB), 10,000 under 1.25 MB (that exchange: 2.9
// MB, both versions of each key).
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

	for _, c := range []struct {
		differ, maxBytes int
	}{
		{10, 8 << 10},
		{10_000, 1280 << 10},
	} {
		// Half the differing keys newer on each side: written there later.
		newer := map[*simNode][]store.Record{}
		for i := range c.differ {
			n := a
			if i%2 == 1 {
				n = b
			}
			r := recs[i*(len(recs)/c.differ)]
			r.Value, r.Version = []byte("changed"), r.Version+store.Stamp(1_000_000*c.differ)
			newer[n] = append(newer[n], r)
		}
		for n, rs := range newer {
			if _, err := n.st.Apply(rs); err != nil {
				t.Fatal(err)
			}
		}
		s.bytes = 0
		readA, readB := a.st.RecordsRead(), b.st.RecordsRead()
		res, err = a.r.SyncWith(ctx, peer)
		if err != nil || res.Received != c.differ/2 || res.Sent != c.differ/2 {
			t.Fatalf("sync of %d differences = %+v, %v: want %d records each way", c.differ, res, err, c.differ/2)
		}
		read := a.st.RecordsRead() - readA + b.st.RecordsRead() - readB
		t.Logf("%d differences: %d bytes, %d records read, %d buckets", c.differ, s.bytes, read, res.BucketsDiffering)
		if s.bytes >= c.maxBytes || read != uint64(c.differ) {
			t.Fatalf("%d differences cost %d bytes (want under %d) and %d records read (want %d)", c.differ, s.bytes, c.maxBytes, read, c.differ)
		}
		if a.st.DigestRoot() != b.st.DigestRoot() {
			t.Fatalf("replicas differ after the sync of %d differences", c.differ)
		}
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
