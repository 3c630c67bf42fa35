package store

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
)

// genRecord makes records that often collide on key, stamp and origin, so
// that the tie-breaks are exercised.
func genRecord(r *rand.Rand) Record {
	rec := Record{
		Key:     []string{"a", "b"}[r.IntN(2)],
		Version: MakeStamp(uint64(r.IntN(3)), uint16(r.IntN(2))),
		Origin:  []string{"n1", "n2", ""}[r.IntN(3)],
		Deleted: r.IntN(4) == 0,
		Flags:   uint64(r.IntN(2)),
	}
	if r.IntN(3) > 0 {
		rec.Value = []byte{byte(r.IntN(3))}
	}
	return rec
}

func TestMergeProperties(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	for range 20_000 {
		a, b, c := genRecord(r), genRecord(r), genRecord(r)
		if !reflect.DeepEqual(Merge(a, b), Merge(b, a)) {
			t.Fatalf("not commutative: %+v %+v", a, b)
		}
		if !reflect.DeepEqual(Merge(Merge(a, b), c), Merge(a, Merge(b, c))) {
			t.Fatalf("not associative: %+v %+v %+v", a, b, c)
		}
		if !reflect.DeepEqual(Merge(a, a), a) {
			t.Fatalf("not idempotent: %+v", a)
		}
		if Compare(&a, &b) != -Compare(&b, &a) {
			t.Fatalf("Compare not antisymmetric: %+v %+v", a, b)
		}
	}
}

func TestMergeOrder(t *testing.T) {
	tests := []struct {
		name string
		a, b Record
		want string // which one wins: "a" or "b"
	}{
		{"later stamp", Record{Version: 2, Origin: "a"}, Record{Version: 1, Origin: "z"}, "a"},
		{"origin breaks stamp tie", Record{Version: 1, Origin: "a"}, Record{Version: 1, Origin: "b"}, "b"},
		{"tombstone breaks full tie", Record{Version: 1, Deleted: true}, Record{Version: 1, Value: []byte("x")}, "a"},
		{"value breaks tie", Record{Version: 1, Value: []byte("b")}, Record{Version: 1, Value: []byte("a")}, "a"},
		{"flags break tie", Record{Version: 1, Flags: 1}, Record{Version: 1, Flags: 2}, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.a
			if tt.want == "b" {
				want = tt.b
			}
			for _, got := range []Record{Merge(tt.a, tt.b), Merge(tt.b, tt.a)} {
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("Merge = %+v, want %+v", got, want)
				}
			}
		})
	}
}

func TestEntryRoundTrip(t *testing.T) {
	for _, e := range []Entry{
		{Record: Record{Key: "k"}},
		{Record: Record{Key: "a/b", Value: []byte("v"), Flags: 42, Version: MakeStamp(1<<40, 9), Origin: "node"}, CreateIndex: 3, ModifyIndex: 1 << 50},
		{Record: Record{Key: "t", Deleted: true, Version: 5}, CreateIndex: 1, ModifyIndex: 2},
	} {
		got, err := decodeEntry(e.Key, appendEntry(nil, &e))
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip of %+v = %+v, %v", e, got, err)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(appendEntry(nil, &Entry{Record: Record{Key: "k", Value: []byte("v"), Origin: "o", Version: 9}, ModifyIndex: 2}))
	f.Add([]byte{1, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry("k", b)
		meta, v, merr := decodeMeta("k", b)
		if (err == nil) != (merr == nil) {
			t.Fatalf("decodeEntry err %v, decodeMeta err %v", err, merr)
		}
		if err != nil {
			return
		}
		meta.Value = e.Value
		if !bytes.Equal(v, e.Value) || !reflect.DeepEqual(meta, e) {
			t.Fatalf("decodeMeta = %+v, value %q; decodeEntry = %+v", meta, v, e)
		}
		// Whatever decodes survives a round trip unchanged.
		again, err := decodeEntry("k", appendEntry(nil, &e))
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("round trip of %+v = %+v, %v", e, again, err)
		}
	})
}
