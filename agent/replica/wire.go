package replica

import (
	"errors"
	"fmt"

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
// responder is pulling a snapshot, or one side was away past the other's
// horizon; nothing is exchanged.
type DigestResponse struct {
	Equal   bool     `cbor:"1,keyasint"`
	Buckets []uint64 `cbor:"2,keyasint,omitempty"`
	Horizon uint64   `cbor:"3,keyasint,omitempty"`
	Mark    uint64   `cbor:"4,keyasint,omitempty"`
	Refused bool     `cbor:"5,keyasint,omitempty"`
	Root    uint64   `cbor:"6,keyasint,omitempty"` // the responder's digest root
}

// KeyHash is a (key, record hash) pair of a digest bucket.
type KeyHash struct {
	Key  string `cbor:"1,keyasint"`
	Hash uint64 `cbor:"2,keyasint"`
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

// ErrBadDelta reports a gossip payload that does not decode.
var ErrBadDelta = errors.New("replica: malformed delta")

// EncodeDelta encodes records for gossip.
func EncodeDelta(recs []Record) ([]byte, error) {
	return cbor.Marshal(Delta{Records: recs})
}

// DecodeDelta decodes a gossiped delta, with limits, and checks each
// record's key and size.
func DecodeDelta(b []byte) (Delta, error) {
	var d Delta
	if err := gossipDec.Unmarshal(b, &d); err != nil {
		return Delta{}, fmt.Errorf("%w: %v", ErrBadDelta, err)
	}
	for _, r := range d.Records {
		if err := checkRecord(&r); err != nil {
			return Delta{}, err
		}
	}
	return d, nil
}

func checkRecord(r *Record) error {
	switch {
	case r.Key == "" || len(r.Key) > store.MaxKeyLen:
		return fmt.Errorf("%w: bad key length %d", ErrBadDelta, len(r.Key))
	case len(r.Value) > store.MaxValueLen:
		return fmt.Errorf("%w: value of %d bytes", ErrBadDelta, len(r.Value))
	case r.Origin == "" || len(r.Origin) > 256:
		return fmt.Errorf("%w: bad origin", ErrBadDelta)
	case r.Version == 0:
		return fmt.Errorf("%w: no version", ErrBadDelta)
	}
	return nil
}
