package replica

import (
	"bytes"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/edgeplane/edgeplane/store"
)

// legacyRecord and legacyKeyHash are the wire types of the releases
// before tables.
type legacyRecord struct {
	Key     string `cbor:"1,keyasint"`
	Value   []byte `cbor:"2,keyasint,omitempty"`
	Flags   uint64 `cbor:"3,keyasint,omitempty"`
	Version uint64 `cbor:"4,keyasint"`
	Origin  string `cbor:"5,keyasint"`
	Deleted bool   `cbor:"6,keyasint,omitempty"`
}

type legacyKeyHash struct {
	Key  string `cbor:"1,keyasint"`
	Hash uint64 `cbor:"2,keyasint"`
}

type legacyKeysRequest struct {
	Buckets []int           `cbor:"1,keyasint"`
	Have    []legacyKeyHash `cbor:"2,keyasint"`
}

// TestKVOnTheWireUnchanged: kv records and digest entries encode as they
// did before tables, and what those releases send decodes as kv.
func TestKVOnTheWireUnchanged(t *testing.T) {
	rec := Record{Key: "k", Value: []byte("v"), Flags: 3, Version: 5, Origin: "n", Deleted: true}
	old := legacyRecord{Key: "k", Value: []byte("v"), Flags: 3, Version: 5, Origin: "n", Deleted: true}
	for _, pair := range [][2]any{
		{Delta{Records: []Record{rec}}, map[int][]legacyRecord{1: {old}}},
		{KeysRequest{Buckets: []int{1}, Have: []KeyHash{{Key: "k", Hash: 9}}}, legacyKeysRequest{Buckets: []int{1}, Have: []legacyKeyHash{{Key: "k", Hash: 9}}}},
	} {
		now, then := mustMarshal(t, pair[0]), mustMarshal(t, pair[1])
		if !bytes.Equal(now, then) {
			t.Fatalf("%T encodes as %x, was %x", pair[0], now, then)
		}
	}
	var d Delta
	if err := cbor.Unmarshal(mustMarshal(t, map[int][]legacyRecord{1: {old}}), &d); err != nil {
		t.Fatal(err)
	}
	if c, err := d.Records[0].verdict(); err != nil || c.Record().Table != store.TableKV || d.Records[0].Key != "k" {
		t.Fatalf("a record from an older release: %+v, %v", d.Records[0], err)
	}
	// "kv" named on the wire is kv too.
	named := map[int][]map[int]any{1: {{1: "k", 4: 5, 5: "n", 7: "kv"}}}
	if err := cbor.Unmarshal(mustMarshal(t, named), &d); err != nil || checkRecord(&d.Records[0]) != nil || d.Records[0].Table != store.TableKV {
		t.Fatalf("a record of table \"kv\": %+v, %v", d.Records[0], err)
	}
}

// TestOtherTablesHideFromOlderReleases: a record or digest entry of
// another table carries no key where a release that knows only kv looks
// for one, so such a node drops it as malformed rather than taking it for
// a kv record; this release decodes it whole.
func TestOtherTablesHideFromOlderReleases(t *testing.T) {
	rec := Record{Table: simTable, Key: "k", Value: []byte("v"), Version: 5, Origin: "n"}
	b := mustMarshal(t, Delta{Records: []Record{rec}})
	var old map[int][]legacyRecord
	if err := cbor.Unmarshal(b, &old); err != nil || old[1][0].Key != "" {
		t.Fatalf("an older release reads key %q, %v", old[1][0].Key, err)
	}
	var d Delta
	if err := cbor.Unmarshal(b, &d); err != nil || checkRecord(&d.Records[0]) != nil || d.Records[0].Table != simTable || d.Records[0].Key != "k" {
		t.Fatalf("decoded %+v, %v", d.Records[0], err)
	}
	kb := mustMarshal(t, KeysRequest{Have: []KeyHash{{Table: simTable, Key: "k", Hash: 9}}})
	var oldReq struct {
		Have []legacyKeyHash `cbor:"2,keyasint"`
	}
	if err := cbor.Unmarshal(kb, &oldReq); err != nil || oldReq.Have[0].Key != "" {
		t.Fatalf("an older release reads key %q, %v", oldReq.Have[0].Key, err)
	}
	var req KeysRequest
	if err := cbor.Unmarshal(kb, &req); err != nil || req.Have[0].invalid || req.Have[0].Table != simTable || req.Have[0].Key != "k" {
		t.Fatalf("decoded %+v, %v", req.Have[0], err)
	}
}

// TestRecordsOfUnknownOrMixedTables: a record naming a table this node
// does not declare, or with its key in the field of the other kind, is
// malformed; so is a bootstrap chunk's record of another table than the
// chunk's.
func TestRecordsOfUnknownOrMixedTables(t *testing.T) {
	for name, m := range map[string]map[int]any{
		"unknown table":          {7: "nope", 8: "k", 4: 5, 5: "n"},
		"table record, kv key":   {7: simTable, 1: "k", 4: 5, 5: "n"},
		"kv record, table key":   {8: "k", 4: 5, 5: "n"},
		"both keys":              {7: simTable, 1: "k", 8: "k", 4: 5, 5: "n"},
		"table record, no key":   {7: simTable, 4: 5, 5: "n"},
		"kv named, table key":    {7: "kv", 8: "k", 4: 5, 5: "n"},
		"table key not UTF-8":    {7: simTable, 8: "k\xff", 4: 5, 5: "n"},
		"table name not UTF-8":   {7: "t\xff", 8: "k", 4: 5, 5: "n"},
		"table name of bad type": {7: 7, 8: "k", 4: 5, 5: "n"},
	} {
		var d Delta
		if err := cbor.Unmarshal(mustMarshal(t, map[int][]any{1: {m}}), &d); err != nil {
			t.Fatalf("%s: the message failed: %v", name, err)
		}
		if checkRecord(&d.Records[0]) == nil {
			t.Errorf("%s: decoded as well-formed: %+v", name, d.Records[0])
		}
	}
	r := toWire(&store.Record{Table: simTable, Key: "k", Version: 5, Origin: "n"})
	if r.onlyIn(store.TableKV); checkRecord(&r) == nil {
		t.Fatal("a record of another table passed in a kv chunk")
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
