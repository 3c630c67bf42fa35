package replica

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/edgeplane/edgeplane/store"
)

// poison gives a record a key that is not valid UTF-8 and sorts where the
// record was, as a store written before keys had to be UTF-8 may hold.
func poison(r *Record) { r.Key += "\xff\xfe" }

// records returns n records cfg/00000 onwards.
func records(n int) []store.Record {
	recs := make([]store.Record, n)
	for i := range recs {
		recs[i] = store.Record{Key: fmt.Sprintf("cfg/%05d", i), Value: []byte("v"), Version: store.Stamp(100 + i), Origin: "n9"}
	}
	return recs
}

// holdsAllBut checks that got holds every record of want except the keys
// in missing, and nothing else.
func holdsAllBut(t *testing.T, got, want map[string]store.Record, missing ...string) {
	t.Helper()
	for _, k := range missing {
		delete(want, k)
	}
	if !recordsEqual(got, want) {
		t.Fatalf("holds %d records, want the %d sent well-formed", len(got), len(want))
	}
}

// TestOneMalformedRecordNeverFailsItsMessage: every message that carries
// records (a gossiped delta, a push, an anti-entropy keys response, a
// bootstrap chunk) and those that carry keys (a keys request, a resolve
// request) apply its
// well-formed part when one entry in it is malformed (here: a key that is
// not valid UTF-8, as a node written by an older release sends), and the
// malformed entry is dropped and counted.
func TestOneMalformedRecordNeverFailsItsMessage(t *testing.T) {
	ctx := context.Background()
	wire := func(recs []store.Record) []Record {
		w := make([]Record, len(recs))
		for i := range recs {
			w[i] = toWire(&recs[i])
		}
		return w
	}
	t.Run("gossip delta", func(t *testing.T) {
		s := newSimNet(t, 1, 1)
		n := s.nodes["n0"]
		w := wire(records(3))
		poison(&w[1])
		b, err := EncodeDelta(w)
		if err != nil {
			t.Fatal(err)
		}
		n.r.HandleGossip(b)
		want := map[string]store.Record{"cfg/00000": w[0].toStore(), "cfg/00002": w[2].toStore()}
		holdsAllBut(t, contents(t, n.st), want)
		if st := n.r.Stats(); st.Malformed != 1 || st.Applied != 2 {
			t.Fatalf("stats %+v: want 2 applied, 1 malformed", st)
		}
	})
	t.Run("push", func(t *testing.T) {
		s := newSimNet(t, 1, 2)
		n := s.nodes["n0"]
		w := wire(records(3))
		poison(&w[1])
		var resp PushResponse
		if err := (simCaller{net: s, from: "n1"}).Call(ctx, Peer{Name: "n0"}, MethodPush, &Delta{Records: w}, &resp); err != nil {
			t.Fatalf("push with one malformed record: %v", err)
		}
		if resp.Applied != 2 || n.r.Stats().Malformed != 1 {
			t.Fatalf("push applied %d, malformed %d: want 2, 1", resp.Applied, n.r.Stats().Malformed)
		}
	})
	b := store.BucketOf("k")
	for _, c := range []struct {
		method string
		req    any
	}{
		{MethodKeys, &KeysRequest{Buckets: []int{b}, Have: []KeyHash{{Key: "k\xff", Hash: 1}, {Key: "other", Hash: 2}}}},
		{MethodResolve, &ResolveRequest{Buckets: []int{b}, Have: []KeyHash{{Key: "k\xff", Version: 1}, {Key: "k", Version: 1}}}},
	} {
		t.Run(c.method+" request", func(t *testing.T) {
			s := newSimNet(t, 1, 2)
			n := s.nodes["n0"]
			if _, err := n.st.Put("k", []byte("v"), 0); err != nil {
				t.Fatal(err)
			}
			var resp KeysResponse
			if err := (simCaller{net: s, from: "n1"}).Call(ctx, Peer{Name: "n0"}, c.method, c.req, &resp); err != nil {
				t.Fatalf("request with one malformed key: %v", err)
			}
			if resp.Done != 1 || len(resp.Records) != 1 || resp.Records[0].Key != "k" || n.r.Stats().Malformed != 1 {
				t.Fatalf("response %+v, malformed %d: want k sent and 1 malformed", resp, n.r.Stats().Malformed)
			}
		})
	}
	t.Run("keys response", func(t *testing.T) {
		s := newSimNet(t, 1, 2)
		a, old := s.nodes["n0"], s.nodes["n1"]
		if _, err := old.st.Apply(records(50)); err != nil {
			t.Fatal(err)
		}
		var poisoned string
		s.tamper = func(msg any) {
			if k, ok := msg.(*KeysResponse); ok && len(k.Records) > 1 && poisoned == "" {
				poisoned = k.Records[1].Key
				poison(&k.Records[1])
			}
		}
		res, err := a.r.SyncWith(ctx, Peer{Name: "n1"})
		if err != nil {
			t.Fatalf("sync with a peer sending one malformed record: %v", err)
		}
		if poisoned == "" {
			t.Fatal("no keys response was tampered with")
		}
		holdsAllBut(t, contents(t, a.st), contents(t, old.st), poisoned)
		if st := a.r.Stats(); st.Malformed != 1 || st.Applied != 49 {
			t.Fatalf("stats %+v after %+v: want 49 applied, 1 malformed", st, res)
		}
	})
	t.Run("bootstrap chunk", func(t *testing.T) {
		s := newSimNet(t, 1, 2)
		fresh, old := s.nodes["n0"], s.nodes["n1"]
		if _, err := old.st.Apply(records(2500)); err != nil {
			t.Fatal(err)
		}
		// The middle of the first chunk, the last record of the first
		// chunk (the bound the next one resumes after) and the last
		// record of the stream.
		at := map[int][]int{1: {500, bootstrapChunk - 1}, 3: {499}}
		chunk := 0
		var poisoned []string
		s.tamper = func(msg any) {
			c, ok := msg.(*BootstrapChunk)
			if !ok {
				return
			}
			chunk++
			for _, i := range at[chunk] {
				poisoned = append(poisoned, c.Records[i].Key)
				poison(&c.Records[i])
			}
		}
		res, err := fresh.r.Bootstrap(ctx)
		if err != nil {
			t.Fatalf("bootstrap from a peer sending malformed records: %v", err)
		}
		if len(poisoned) != 3 {
			t.Fatalf("poisoned %v: the stream did not have the chunks expected", poisoned)
		}
		holdsAllBut(t, contents(t, fresh.st), contents(t, old.st), poisoned...)
		if st := fresh.r.Stats(); st.Malformed != 3 || res.Applied != 2497 {
			t.Fatalf("bootstrap %+v, stats %+v: want 2497 applied, 3 malformed", res, st)
		}
	})
}

// TestMalformedRecordsOfEveryKind: each way a received record can be
// malformed is caught when it is decoded, with the rule it broke, and
// well-formed records in the same message decode intact.
func TestMalformedRecordsOfEveryKind(t *testing.T) {
	good := Record{Key: "k", Value: []byte("v"), Version: 5, Origin: "n"}
	tests := []struct {
		name string
		item any // encoded as the middle record
		want string
	}{
		{"key not UTF-8", Record{Key: "k\xff", Version: 5, Origin: "n"}, "keys must be valid UTF-8"},
		{"origin not UTF-8", Record{Key: "k", Version: 5, Origin: "n\xc3"}, "bad origin"},
		{"empty key", Record{Version: 5, Origin: "n"}, "length 0"},
		{"no version", Record{Key: "k", Origin: "n"}, "no version"},
		{"key of the wrong type", map[int]any{1: 7, 4: 5, 5: "n"}, "cannot unmarshal"},
		{"not a map", "a record", "cannot unmarshal"},
		{"duplicate field", rawMap{1, "k", 1, "k"}, "duplicate"},
		{"tagged", cbor.Tag{Number: 100, Content: good}, "tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := cbor.Marshal(map[int][]any{1: {good, tt.item, good}})
			if err != nil {
				t.Fatal(err)
			}
			var d Delta
			if err := cbor.Unmarshal(b, &d); err != nil {
				t.Fatalf("the message failed: %v", err)
			}
			if len(d.Records) != 3 {
				t.Fatalf("%d records, want 3", len(d.Records))
			}
			for _, i := range []int{0, 2} {
				if err := checkRecord(&d.Records[i]); err != nil || d.Records[i].Key != "k" || string(d.Records[i].Value) != "v" {
					t.Fatalf("record %d: %+v, %v", i, d.Records[i], err)
				}
			}
			err = checkRecord(&d.Records[1])
			if !errors.Is(err, ErrBadRecord) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("malformed record: %v, want ErrBadRecord saying %q", err, tt.want)
			}
		})
	}
}

// rawMap encodes as a CBOR map of its pairs in order, duplicates kept.
type rawMap []any

func (m rawMap) MarshalCBOR() ([]byte, error) {
	b := []byte{0xa0 | byte(len(m)/2)}
	for _, v := range m {
		e, err := cbor.Marshal(v)
		if err != nil {
			return nil, err
		}
		b = append(b, e...)
	}
	return b, nil
}
