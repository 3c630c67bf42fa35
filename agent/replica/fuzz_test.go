package replica

import (
	"context"
	"log/slog"
	"testing"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"

	"github.com/edgeplane/edgeplane/store"
)

func FuzzDecodeDelta(f *testing.F) {
	good, _ := EncodeDelta([]Record{{Key: "k", Value: []byte("v"), Version: 5, Origin: "n"}})
	f.Add(good)
	f.Add([]byte{0xa1, 0x01, 0x80})
	// One record whose key is not valid UTF-8 between two good ones.
	mixed, _ := EncodeDelta([]Record{
		{Key: "a", Version: 5, Origin: "n"},
		{Key: "poison/\xff\xfe", Version: 5, Origin: "n"},
		{Key: "b", Version: 5, Origin: "n"},
	})
	f.Add(mixed)
	// Records of a declared table, of an unknown one, and of kv by name.
	tables, _ := EncodeDelta([]Record{
		{Table: simTable, Key: "t", Value: []byte("v"), Version: 5, Origin: "n"},
		{Table: "nope", Key: "u", Version: 5, Origin: "n"},
	})
	f.Add(tables)
	named, _ := cbor.Marshal(map[int][]map[int]any{1: {{7: "kv", 1: "k", 4: 5, 5: "n"}, {7: simTable, 1: "k", 8: "k", 4: 5, 5: "n"}}})
	f.Add(named)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, dropped, err := DecodeDelta(b)
		if err != nil {
			return
		}
		if dropped < 0 {
			t.Fatalf("dropped %d", dropped)
		}
		for _, r := range d.Records {
			if checkRecord(&r) != nil || !utf8.ValidString(r.Key) || !utf8.ValidString(r.Origin) {
				t.Fatalf("decoded an invalid record %+v", r)
			}
			if _, err := store.CheckTable(r.Table); err != nil || r.Table == "kv" {
				t.Fatalf("decoded a record of table %q", r.Table)
			}
		}
	})
}

// FuzzRecordList decodes arbitrary bytes as the records of a push, a keys
// response and a bootstrap chunk with the transport's decoder: a record
// that does not decode or breaks a rule never fails its message, and
// admit lets through only records whose key and origin are valid UTF-8.
func FuzzRecordList(f *testing.F) {
	good := Record{Key: "k", Value: []byte("v"), Version: 5, Origin: "n"}
	bad := Record{Key: "poison/\xff\xfe", Version: 5, Origin: "n"}
	other := Record{Table: simTable, Key: "k", Value: []byte("v"), Version: 5, Origin: "n"}
	for _, m := range []any{
		Delta{Records: []Record{good, bad, good}},
		KeysResponse{Records: []Record{bad}, Want: []string{"k"}, Done: 1},
		BootstrapChunk{Records: []Record{good, bad}, Horizon: 3},
		Delta{Records: []Record{other, good}},
		KeysResponse{Records: []Record{other}, WantIn: []TableKeys{{Table: simTable, Keys: []string{"k"}}}, Done: 1},
		BootstrapChunk{Records: []Record{other, good}, Table: simTable, More: true},
	} {
		b, err := cbor.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dec, err := cbor.DecOptions{ // the transport's message decoder
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  16,
		MaxArrayElements: 65536,
		MaxMapPairs:      65536,
		IndefLength:      cbor.IndefLengthForbidden,
	}.DecMode()
	if err != nil {
		f.Fatal(err)
	}
	s := newSimNet(f, 1, 1)
	r := s.nodes["n0"].r
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Delta
		var k KeysResponse
		var c BootstrapChunk
		for _, recs := range [][]Record{
			decoded(dec, b, &d, &d.Records),
			decoded(dec, b, &k, &k.Records),
			decoded(dec, b, &c, &c.Records),
		} {
			for _, c := range r.admit(context.Background(), recs) {
				if rec := c.Record(); store.CheckKey(rec.Key) != nil || !utf8.ValidString(rec.Origin) {
					t.Fatalf("admitted an invalid record %+v", rec)
				}
			}
		}
	})
}

// decoded unmarshals b into msg and returns its records, or none.
func decoded(dec cbor.DecMode, b []byte, msg any, recs *[]Record) []Record {
	if dec.Unmarshal(b, msg) != nil {
		return nil
	}
	return *recs
}

// FuzzSyncMessages feeds arbitrary bytes, decoded as the anti-entropy
// and bootstrap messages, to a replica's handlers and to the merge of a
// received bootstrap chunk: they must answer or refuse, never crash.
func FuzzSyncMessages(f *testing.F) {
	req, _ := cbor.Marshal(KeysRequest{Buckets: []int{1, 4095}, Have: []KeyHash{{Key: "k", Hash: 9}}})
	f.Add(req)
	f.Add([]byte{0xa1, 0x01, 0x81, 0x39, 0x10, 0x00}) // bucket -4097
	bad, _ := cbor.Marshal(KeysRequest{Buckets: []int{store.BucketOf("k")}, Have: []KeyHash{{Key: "k\xff", Hash: 1}, {Key: "k", Hash: 2}}})
	f.Add(bad) // a key that is not valid UTF-8
	tables, _ := cbor.Marshal(KeysRequest{Buckets: []int{store.BucketOf("k")}, Have: []KeyHash{{Table: simTable, Key: "k", Hash: 1}, {Key: "k", Hash: 2}}})
	f.Add(tables) // the same key in two tables
	b := store.BucketOf("k")
	for _, m := range []any{
		BucketsRequest{Groups: []int{0, b / groupSize, DigestGroups - 1}},
		BucketsRequest{Groups: []int{-1, DigestGroups}},
		EntriesRequest{Buckets: []int{b, 0, 4095}, Salt: 7},
		ResolveRequest{Buckets: []int{b}, Salt: 7, Have: []KeyHash{{Key: "k", Version: 3}, {Table: simTable, Key: "k", Version: 9}}, Lack: []byte{1, 2, 3, 4}},
		ResolveRequest{Buckets: []int{b}, Lack: []byte{1, 2, 3}},
	} {
		req, _ := cbor.Marshal(m)
		f.Add(req)
	}
	resume, _ := cbor.Marshal(BootstrapRequest{Table: simTable, After: "k"})
	f.Add(resume)
	chunk, _ := cbor.Marshal(BootstrapChunk{Records: []Record{{Table: simTable, Key: "k", Version: 5, Origin: "n"}}, Table: simTable,
		Progress: []NodeProgress{{Node: "n9", Covered: 3, Holds: 2, At: 3, Collected: 1}}})
	f.Add(chunk)
	digest, _ := cbor.Marshal(DigestRequest{Root: 1, Horizon: 5, Mark: 6, Progress: []NodeProgress{
		{Node: "n0", Covered: 1, Collected: 1 << 62}, {Node: "n1", Covered: 9, Holds: 8, At: 9, Collected: 4}, {Node: ""}}})
	f.Add(digest)
	s := newSimNet(f, 1, 1)
	r := s.nodes["n0"].r
	if _, err := s.nodes["n0"].st.Put("k", []byte("v"), 0); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var k KeysRequest
		if cbor.Unmarshal(b, &k) == nil && len(k.Buckets) <= 4096 {
			r.HandleKeys(context.Background(), &k)
		}
		ctx := context.Background()
		serve(ctx, b, r.HandleDigest)
		serve(ctx, b, r.HandleBuckets)
		serve(ctx, b, r.HandleEntries)
		serve(ctx, b, r.HandleResolve)
		serve(ctx, b, r.HandlePush)
		var boot BootstrapRequest
		if cbor.Unmarshal(b, &boot) == nil {
			r.HandleBootstrap(context.Background(), &boot, func(*BootstrapChunk) error { return nil })
		}
		// A bootstrap chunk as the receiving side merges it.
		var c BootstrapChunk
		if cbor.Unmarshal(b, &c) == nil && len(c.Records) > 0 {
			r.cfg.Store.MergeRange(c.Table, "", c.Records[len(c.Records)-1].Key, r.admit(context.Background(), c.Records), func(*store.Record) bool { return false })
		}
	})
}

// FuzzDigestResponse feeds a peer's digest answer, as untrusted bytes, to
// the calling side of an anti-entropy round: whatever the peer says
// (refused, pulling, marks, bucket hashes), the round ends with a result
// or an error and counts it once.
func FuzzDigestResponse(f *testing.F) {
	for _, d := range []DigestResponse{
		{Equal: true, Root: 1},
		{Refused: true, Pulling: true, Root: 2},
		{Refused: true, Horizon: 1 << 62},
		{Buckets: []uint64{1, 2, 3}, Mark: 9},
		{Buckets: []uint64{1}, Mark: 9, Horizon: 4, Progress: []NodeProgress{{Node: "n1", Covered: 9, Holds: 2, At: 9, Collected: 4}, {Node: "n0", Covered: 1}}},
		{Equal: true, Progress: []NodeProgress{{Node: "n1", Covered: 1 << 63, Holds: 1 << 63, At: 1 << 63, Collected: 1 << 63}}},
	} {
		b, _ := cbor.Marshal(d)
		f.Add(b)
	}
	s := newSimNet(f, 1, 2)
	n := s.nodes["n0"]
	if _, err := n.st.Put("k", []byte("v"), 0); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := New(Config{
			Store: n.st, Self: "n0", Broadcast: func(string, []byte) {},
			Caller: fuzzPeer(b), Peers: func() []Peer { return []Peer{{Name: "n1", Addr: "n1"}} },
			Clock: n, Log: slog.New(slog.DiscardHandler),
		})
		r.SyncRandom(context.Background())
		st := r.Stats()
		if st.SyncDeferred+st.SyncRefused+st.SyncFailures > 1 {
			t.Fatalf("one round counted %+v", st)
		}
	})
}

// FuzzTreeAnswers feeds a peer's answers to MethodBuckets, MethodEntries
// and MethodResolve, as untrusted bytes, to the calling side of a round
// whose digests differ: whatever the peer says, the round ends with a
// result or an error, and counts it once.
func FuzzTreeAnswers(f *testing.F) {
	for _, m := range []any{
		BucketsResponse{Hashes: make([]byte, 8*groupSize)},
		BucketsResponse{Hashes: []byte{1, 2, 3}},
		EntriesResponse{Hashes: [][]byte{{1, 2, 3, 4}, nil}},
		EntriesResponse{Hashes: [][]byte{{1, 2, 3}}},
		KeysResponse{Records: []Record{{Key: "k", Version: 9, Origin: "n1"}}, Want: []string{"k", "nope"}, Done: 1},
		KeysResponse{Done: -1},
	} {
		b, _ := cbor.Marshal(m)
		f.Add(b)
	}
	s := newSimNet(f, 1, 2)
	n, peer := s.nodes["n0"], s.nodes["n1"]
	if _, err := n.st.Put("k", []byte("v"), 0); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := New(Config{
			Store: n.st, Self: "n0", Broadcast: func(string, []byte) {},
			Caller: treePeer{peer: peer.r, answer: b}, Peers: func() []Peer { return []Peer{{Name: "n1", Addr: "n1"}} },
			Clock: n, Log: slog.New(slog.DiscardHandler),
		})
		r.SyncRandom(context.Background())
		st := r.Stats()
		if st.SyncDeferred+st.SyncRefused+st.SyncFailures > 1 {
			t.Fatalf("one round counted %+v", st)
		}
	})
}

// treePeer answers a digest and a push as its replica does, and every
// other call with its bytes.
type treePeer struct {
	peer   *Replica
	answer []byte
}

func (p treePeer) Call(ctx context.Context, _ Peer, method string, req, resp any) error {
	switch method {
	case MethodDigest:
		d, err := p.peer.HandleDigest(ctx, req.(*DigestRequest))
		if err == nil {
			*resp.(*DigestResponse) = *d
		}
		return err
	case MethodPush:
		return nil
	}
	return cbor.Unmarshal(p.answer, resp)
}

// fuzzPeer answers a digest with its bytes and fails every other call.
type fuzzPeer []byte

func (p fuzzPeer) Call(_ context.Context, _ Peer, method string, _, resp any) error {
	if method != MethodDigest {
		return errCut
	}
	return cbor.Unmarshal(p, resp)
}
