package replica

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/edgeplane/edgeplane/store"
)

// TestGroupHashes: a change to one bucket changes its group's hash and no
// other.
func TestGroupHashes(t *testing.T) {
	buckets := make([]uint64, store.DigestBuckets)
	for i := range buckets {
		buckets[i] = uint64(i) * 0x9e3779b97f4a7c15
	}
	before := groupHashes(buckets)
	if len(before) != 8*DigestGroups {
		t.Fatalf("%d bytes of group hashes", len(before))
	}
	for _, b := range []int{0, 15, 16, 1000, store.DigestBuckets - 1} {
		changed := slices.Clone(buckets)
		changed[b] ^= 1 << 40
		after := groupHashes(changed)
		for g := range DigestGroups {
			same := binary.BigEndian.Uint64(before[8*g:]) == binary.BigEndian.Uint64(after[8*g:])
			if same != (g != b/groupSize) {
				t.Fatalf("bucket %d changed: group %d same=%v", b, g, same)
			}
		}
	}
}

// TestShortHashSalt: the short hashes of two records that share one under
// a salt differ under almost every other salt, so a round that misses a
// difference is followed by one that finds it.
func TestShortHashSalt(t *testing.T) {
	const h = 0x0123456789abcdef
	seen := map[uint32]bool{}
	for salt := range uint64(1000) {
		seen[shortHash(h, salt*0x9e3779b97f4a7c15)] = true
	}
	if len(seen) < 999 {
		t.Fatalf("1,000 salts gave %d short hashes of one record hash", len(seen))
	}
	// Record hashes that differ in one bit differ in their short hashes.
	for bit := range 64 {
		if shortHash(h, 7) == shortHash(h^1<<bit, 7) {
			t.Fatalf("record hashes differing in bit %d share a short hash", bit)
		}
	}
}

// TestCompareEntries: this node's entries whose short hashes the peer did
// not send go out with their versions; the peer's short hashes this node
// lacks go back, once each.
func TestCompareEntries(t *testing.T) {
	const salt = 42
	mine := []store.KeyHash{
		{Key: "a", Hash: 1, Version: 10},
		{Key: "b", Hash: 2, Version: 20},
		{Table: simTable, Key: "c", Hash: 3, Version: 30},
	}
	pack := func(hs ...uint64) []byte {
		var p []byte
		for _, h := range hs {
			p = binary.BigEndian.AppendUint32(p, shortHash(h, salt))
		}
		return p
	}
	for _, c := range []struct {
		name   string
		theirs []byte
		have   []KeyHash
		lack   []byte
	}{
		{"equal", pack(1, 2, 3), nil, nil},
		{"peer empty", nil, []KeyHash{{Key: "a", Version: 10}, {Key: "b", Version: 20}, {Table: simTable, Key: "c", Version: 30}}, nil},
		{"one differs", pack(1, 9, 3), []KeyHash{{Key: "b", Version: 20}}, pack(9)},
		{"peer holds more", pack(1, 2, 3, 4, 4), nil, pack(4)},
	} {
		t.Run(c.name, func(t *testing.T) {
			have, lack, err := compareEntries(mine, c.theirs, salt, nil, nil)
			if err != nil || !slices.Equal(have, c.have) || !slices.Equal(lack, c.lack) {
				t.Fatalf("compareEntries = %+v, %x, %v; want %+v, %x", have, lack, err, c.have, c.lack)
			}
		})
	}
	if _, _, err := compareEntries(mine, []byte{1, 2, 3}, salt, nil, nil); err == nil {
		t.Fatal("3 bytes of short hashes accepted")
	}
}

// TestResolveBounds: a resolve request naming a bucket out of range, more
// short hashes than a message may carry, or a partial one, is refused.
func TestResolveBounds(t *testing.T) {
	r := newSimNet(t, 1, 1).nodes["n0"].r
	for _, req := range []ResolveRequest{
		{Buckets: []int{store.DigestBuckets}},
		{Buckets: []int{-1}},
		{Buckets: []int{1}, Lack: make([]byte, 4*maxLack+4)},
		{Buckets: []int{1}, Lack: []byte{1, 2, 3, 4, 5}},
	} {
		if _, err := r.HandleResolve(context.Background(), &req); err == nil {
			t.Errorf("buckets %v, %d bytes lacked: accepted", req.Buckets, len(req.Lack))
		}
	}
	if _, err := r.HandleResolve(context.Background(), &ResolveRequest{Buckets: []int{1}, Lack: make([]byte, 4*maxLack)}); err != nil {
		t.Errorf("the most short hashes a message carries: %v", err)
	}
}

// TestNewerSide: of a key both sides hold in other records, only the
// newer crosses; of one stamp in two records, or a version unknown, both
// do; a record the caller lacks is sent, one it holds is not.
func TestNewerSide(t *testing.T) {
	for _, c := range []struct {
		name              string
		mine, theirs      uint64
		named, lacks      bool
		wantSend, wantGet bool
	}{
		{"mine newer", 20, 10, true, false, true, false},
		{"theirs newer", 10, 20, true, false, false, true},
		{"one stamp, two records", 10, 10, true, false, true, true},
		{"their version unknown", 10, 0, true, false, true, true},
		{"my version unknown", 0, 10, true, false, true, true},
		{"caller lacks it", 10, 0, false, true, true, false},
		{"caller holds it", 10, 0, false, false, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			send, want := newerSide(c.mine, c.theirs, c.named, c.lacks)
			if send != c.wantSend || want != c.wantGet {
				t.Fatalf("newerSide = send %v, want %v; want send %v, want %v", send, want, c.wantSend, c.wantGet)
			}
		})
	}
}

// differBothWays gives a and b shared records, then on each side keys
// written later there, keys only it holds, a delete and a write in
// simTable.
func differBothWays(t *testing.T, a, b *simNode) {
	t.Helper()
	shared := records(2000)
	for _, n := range []*simNode{a, b} {
		if _, err := n.st.Apply(shared); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range []*simNode{a, b} {
		for j := range 10 {
			putIn(t, n, store.TableKV, fmt.Sprintf("cfg/%05d", 100*j+i), "newer on "+n.name)
		}
		putIn(t, n, store.TableKV, "only/"+n.name, "v")
		putIn(t, n, simTable, "t/"+n.name, "v")
		deleteIn(t, n, store.TableKV, fmt.Sprintf("cfg/%05d", 1500+i))
	}
}

// TestSyncWithEarlierRelease: a node of this release and one of a release
// before group hashes (which ignores the request for them and serves
// neither MethodBuckets, MethodEntries nor MethodResolve) converge in one
// round whichever calls, by the exchange the earlier release knows: both
// versions of each key held in two records cross. Between two nodes of
// this release only the newer does.
func TestSyncWithEarlierRelease(t *testing.T) {
	for _, c := range []struct {
		name       string
		legacy     string // the node of the earlier release, if any
		caller     string
		eachWay    int // records
		earlierWay bool
	}{
		{"this release both", "", "n0", 13, false},
		{"earlier release answers", "n1", "n0", 24, true},
		{"earlier release calls", "n1", "n1", 24, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSimNet(t, 31, 2)
			s.legacy = map[string]bool{c.legacy: c.legacy != ""}
			differBothWays(t, s.nodes["n0"], s.nodes["n1"])
			peer := map[string]string{"n0": "n1", "n1": "n0"}[c.caller]
			res, err := s.nodes[c.caller].r.SyncWith(context.Background(), Peer{Name: peer})
			if err != nil {
				t.Fatal(err)
			}
			s.sameEverywhere(t)
			tree := s.calls[MethodBuckets] + s.calls[MethodEntries] + s.calls[MethodResolve]
			if earlier := s.calls[MethodKeys] > 0; earlier != c.earlierWay || earlier == (tree > 0) {
				t.Fatalf("calls %v", s.calls)
			}
			if res.Received != c.eachWay || res.Sent != c.eachWay {
				t.Fatalf("round %+v: want %d records each way", res, c.eachWay)
			}
		})
	}
}

// TestRollingUpgrade: a mesh of three nodes of an earlier release is
// upgraded one node at a time, with writes on every node between the
// steps; after each step every pair syncs and all converge, pairs of
// upgraded nodes by the exchange of this release.
func TestRollingUpgrade(t *testing.T) {
	s := newSimNet(t, 37, 3)
	s.legacy = map[string]bool{"n0": true, "n1": true, "n2": true}
	if _, err := s.nodes["n0"].st.Apply(records(500)); err != nil {
		t.Fatal(err)
	}
	s.syncAll(t)
	for step, upgraded := range []string{"", "n1", "n0", "n2"} {
		delete(s.legacy, upgraded)
		for i, name := range s.names {
			n := s.nodes[name]
			putIn(t, n, store.TableKV, fmt.Sprintf("cfg/%05d", 7*step+i), fmt.Sprintf("step %d on %s", step, name))
			putIn(t, n, simTable, fmt.Sprintf("t/%d/%s", step, name), "v")
			deleteIn(t, n, store.TableKV, fmt.Sprintf("cfg/%05d", 300+3*step+i))
		}
		s.calls = nil
		s.syncAll(t)
		s.sameEverywhere(t)
		if tree := s.calls[MethodResolve] > 0; tree != (len(s.legacy) < 2) {
			t.Fatalf("step %d, earlier release on %v: calls %v", step, s.legacy, s.calls)
		}
	}
}

// TestHiddenDifferenceFoundNextRound: a round whose short hashes hide a
// difference (the peer's answer made to match this node's, as a shared
// short hash would) ends without exchanging it, the bucket hashes still
// differ, and the next round, under another salt, repairs it.
func TestHiddenDifferenceFoundNextRound(t *testing.T) {
	s := newSimNet(t, 41, 2)
	a, b := s.nodes["n0"], s.nodes["n1"]
	if _, err := a.st.Apply(records(300)); err != nil {
		t.Fatal(err)
	}
	s.syncAll(t)
	putIn(t, b, store.TableKV, "cfg/00007", "newer")
	var salts []uint64
	hide := true
	s.tamper = func(msg any) {
		switch m := msg.(type) {
		case *EntriesRequest:
			salts = append(salts, m.Salt)
		case *EntriesResponse:
			if hide { // the caller's own short hashes: nothing seems to differ
				each, err := a.st.BucketEntries([]int{store.BucketOf("cfg/00007")})
				if err != nil {
					t.Error(err)
					return
				}
				m.Hashes[0] = nil
				for _, kh := range each[0] {
					m.Hashes[0] = binary.BigEndian.AppendUint32(m.Hashes[0], shortHash(kh.Hash, salts[len(salts)-1]))
				}
			}
		}
	}
	res, err := a.r.SyncWith(context.Background(), Peer{Name: "n1"})
	if err != nil || res.Received+res.Sent != 0 || res.BucketsDiffering != 1 {
		t.Fatalf("round with the difference hidden: %+v, %v", res, err)
	}
	if a.st.DigestRoot() == b.st.DigestRoot() {
		t.Fatal("replicas equal after a round that exchanged nothing")
	}
	hide = false
	res, err = a.r.SyncWith(context.Background(), Peer{Name: "n1"})
	if err != nil || res.Received != 1 || res.Sent != 0 {
		t.Fatalf("next round: %+v, %v", res, err)
	}
	s.sameEverywhere(t)
	if len(salts) != 2 || salts[0] == salts[1] {
		t.Fatalf("salts of the two rounds: %v", salts)
	}
}
