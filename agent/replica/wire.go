package replica

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"

	"github.com/edgeplane/edgeplane/store"
)

// RPC methods replication serves.
const (
	MethodPush   = "replica.push"   // records pushed by their writer or a syncing peer
	MethodDigest = "replica.digest" // step 1 of anti-entropy: roots, then bucket hashes
	MethodKeys   = "replica.keys"   // step 2: the differing buckets' keys
)

// Record is a store record on the wire.
type Record struct {
	Key     string `cbor:"1,keyasint"`
	Value   []byte `cbor:"2,keyasint,omitempty"`
	Flags   uint64 `cbor:"3,keyasint,omitempty"`
	Version uint64 `cbor:"4,keyasint"`
	Origin  string `cbor:"5,keyasint"`
	Deleted bool   `cbor:"6,keyasint,omitempty"`

	// invalid is why a received record may not be merged, found when it
	// was decoded (see UnmarshalCBOR); nil for a well-formed one.
	invalid error
}

// recordDec decodes one record of a message whose limits the message's
// decoder has already applied. It lets text that is not valid UTF-8
// through so that checkRecord can say which field broke the rule.
var recordDec = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  4,
		MaxArrayElements: 16,
		MaxMapPairs:      16,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8DecodeInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// UnmarshalCBOR decodes one record of a delta, push, keys response or
// bootstrap chunk and checks it (checkRecord). A record that does not
// decode or breaks a rule, such as a key that is not valid UTF-8, does not
// fail the message that carries it: it keeps its place, marked, and is
// dropped and counted as malformed where records are merged (admit), so
// that one bad record a peer holds never stops its replication.
func (r *Record) UnmarshalCBOR(b []byte) error {
	type plain Record // without this method
	var p plain
	if err := recordDec.Unmarshal(b, &p); err != nil {
		*r = Record{invalid: fmt.Errorf("%w: %v", ErrBadRecord, err)}
		return nil
	}
	*r = Record(p)
	r.invalid = checkRecord(r)
	return nil
}

func toWire(r *store.Record) Record {
	return Record{Key: r.Key, Value: r.Value, Flags: r.Flags, Version: uint64(r.Version), Origin: r.Origin, Deleted: r.Deleted}
}

func (r *Record) toStore() store.Record {
	return store.Record{Key: r.Key, Value: r.Value, Flags: r.Flags, Version: store.Stamp(r.Version), Origin: r.Origin, Deleted: r.Deleted}
}

// Delta is a gossiped or pushed batch of records.
type Delta struct {
	Records []Record `cbor:"1,keyasint"`
}

// PushResponse answers a push.
type PushResponse struct {
	Applied  int `cbor:"1,keyasint"`
	Rejected int `cbor:"2,keyasint"`
}

// DigestRequest opens a sync with the caller's root and its replication
// marks (see the package documentation on tombstones).
type DigestRequest struct {
	Root    uint64 `cbor:"1,keyasint"`
	Horizon uint64 `cbor:"2,keyasint,omitempty"` // the caller may have forgotten deletes before it
	Mark    uint64 `cbor:"3,keyasint,omitempty"` // the caller's last complete sync
}

// DigestResponse says whether the roots match and, if not, carries every
// bucket hash of the responder, with the responder's marks. Refused: the
// responder is pulling a snapshot (Pulling is set too: the caller tries
// again later), or one side was away past the other's horizon, or the
// caller's clock runs fast; nothing is exchanged.
type DigestResponse struct {
	Equal   bool     `cbor:"1,keyasint"`
	Buckets []uint64 `cbor:"2,keyasint,omitempty"`
	Horizon uint64   `cbor:"3,keyasint,omitempty"`
	Mark    uint64   `cbor:"4,keyasint,omitempty"`
	Refused bool     `cbor:"5,keyasint,omitempty"`
	Root    uint64   `cbor:"6,keyasint,omitempty"` // the responder's digest root
	Pulling bool     `cbor:"7,keyasint,omitempty"`
}

// KeyHash is a (key, record hash) pair of a digest bucket.
type KeyHash struct {
	Key  string `cbor:"1,keyasint"`
	Hash uint64 `cbor:"2,keyasint"`

	invalid bool // received malformed: see UnmarshalCBOR
}

// UnmarshalCBOR decodes one entry of a KeysRequest. An entry that does not
// decode, or whose key breaks the store's rules (a key that is not valid
// UTF-8, sent by a node written before keys had to be), does not fail the
// request: it is marked, and HandleKeys skips and counts it.
func (k *KeyHash) UnmarshalCBOR(b []byte) error {
	type plain KeyHash // without this method
	var p plain
	if err := recordDec.Unmarshal(b, &p); err != nil || store.CheckKey(p.Key) != nil {
		*k = KeyHash{invalid: true}
		return nil
	}
	*k = KeyHash(p)
	return nil
}

// KeysRequest carries the caller's entries for the buckets that differ.
type KeysRequest struct {
	Buckets []int     `cbor:"1,keyasint"`
	Have    []KeyHash `cbor:"2,keyasint"`
}

// KeysResponse carries the responder's records the caller lacks or holds
// in another version, and the keys the responder wants in return, for the
// first Done buckets of the request (and possibly part of the next).
type KeysResponse struct {
	Records []Record `cbor:"1,keyasint"`
	Want    []string `cbor:"2,keyasint"`
	Done    int      `cbor:"3,keyasint"`
}

// Limits for gossip payloads, which arrive outside the RPC codec.
const maxGossipRecords = 64

var gossipDec = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  4,
		MaxArrayElements: maxGossipRecords,
		MaxMapPairs:      16,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// Errors for what a peer sends.
var (
	// ErrBadDelta reports a gossip payload that does not decode.
	ErrBadDelta = errors.New("replica: malformed delta")
	// ErrBadRecord reports a received record that does not decode or
	// breaks a rule (checkRecord): it is dropped and counted, the rest of
	// its message applies.
	ErrBadRecord = errors.New("replica: malformed record")
)

// EncodeDelta encodes records for gossip.
func EncodeDelta(recs []Record) ([]byte, error) {
	return cbor.Marshal(Delta{Records: recs})
}

// DecodeDelta decodes a gossiped delta, with limits. A payload that does
// not decode is an error; its records that are malformed (see
// Record.UnmarshalCBOR) are left out of d and counted in dropped.
func DecodeDelta(b []byte) (d Delta, dropped int, err error) {
	if err := gossipDec.Unmarshal(b, &d); err != nil {
		return Delta{}, 0, fmt.Errorf("%w: %v", ErrBadDelta, err)
	}
	ok := d.Records[:0]
	for i := range d.Records {
		if checkRecord(&d.Records[i]) != nil {
			dropped++
			continue
		}
		ok = append(ok, d.Records[i])
	}
	d.Records = ok
	return d, dropped, nil
}

// checkRecord returns why a received record may not be merged: it did not
// decode, its key breaks the store's rules (store.CheckKey: 1 to
// store.MaxKeyLen bytes of valid UTF-8), its value is too large, its
// origin is missing, too long or not valid UTF-8, or it has no version.
func checkRecord(r *Record) error {
	if r.invalid != nil {
		return r.invalid
	}
	if err := store.CheckKey(r.Key); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	switch {
	case len(r.Value) > store.MaxValueLen:
		return fmt.Errorf("%w: value of %d bytes", ErrBadRecord, len(r.Value))
	case r.Origin == "" || len(r.Origin) > 256 || !utf8.ValidString(r.Origin):
		return fmt.Errorf("%w: bad origin %q", ErrBadRecord, r.Origin)
	case r.Version == 0:
		return fmt.Errorf("%w: key %q: no version", ErrBadRecord, r.Key)
	}
	return nil
}
