package replica

import (
	"context"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/edgeplane/edgeplane/store"
)

func FuzzDecodeDelta(f *testing.F) {
	good, _ := EncodeDelta([]Record{{Key: "k", Value: []byte("v"), Version: 5, Origin: "n"}})
	f.Add(good)
	f.Add([]byte{0xa1, 0x01, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDelta(b)
		if err != nil {
			return
		}
		for _, r := range d.Records {
			if checkRecord(&r) != nil {
				t.Fatalf("decoded an invalid record %+v", r)
			}
		}
	})
}

// FuzzSyncMessages feeds arbitrary bytes, decoded as the anti-entropy
// and bootstrap messages, to a replica's handlers and to the merge of a
// received bootstrap chunk: they must answer or refuse, never crash.
func FuzzSyncMessages(f *testing.F) {
	req, _ := cbor.Marshal(KeysRequest{Buckets: []int{1, 4095}, Have: []KeyHash{{Key: "k", Hash: 9}}})
	f.Add(req)
	f.Add([]byte{0xa1, 0x01, 0x81, 0x39, 0x10, 0x00}) // bucket -4097
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
		var d DigestRequest
		if cbor.Unmarshal(b, &d) == nil {
			r.HandleDigest(context.Background(), &d)
		}
		var p Delta
		if cbor.Unmarshal(b, &p) == nil {
			r.HandlePush(context.Background(), &p)
		}
		var br BootstrapRequest
		if cbor.Unmarshal(b, &br) == nil {
			r.HandleBootstrap(context.Background(), &br, func(*BootstrapChunk) error { return nil })
		}
		// A bootstrap chunk as the receiving side merges it.
		var c BootstrapChunk
		if cbor.Unmarshal(b, &c) == nil && len(c.Records) > 0 {
			r.cfg.Store.MergeRange("", c.Records[len(c.Records)-1].Key, r.admit(c.Records), func(*store.Record) bool { return false })
		}
	})
}
