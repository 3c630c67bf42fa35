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

	// The exchange of nodes that keep each key's version in the digest
	// (see tree.go): after a digest answered with group hashes, these
	// replace MethodKeys.
	MethodBuckets = "replica.buckets" // the bucket hashes of the differing groups
	MethodEntries = "replica.entries" // short hashes of the differing buckets' entries
	MethodResolve = "replica.resolve" // the differing entries: the newer side's records
)

// Record is a store record on the wire.
//
// A kv record is encoded as it was before tables existed (fields 1 to 6).
// A record of another table carries its table in field 7 and its key in
// field 8, never in field 1: a node that knows only kv finds no key, and
// drops the record as malformed instead of taking it for a kv record.
type Record struct {
	Table   string // store.TableKV ("", sent as nothing) or a declared table
	Key     string
	Value   []byte
	Flags   uint64
	Version uint64
	Origin  string
	Deleted bool
	Prev    uint64 // store.Record.Prev: the version the writer replaced

	// The verdict of the check made when the record was decoded (see
	// UnmarshalCBOR): the checked record, or why it may not be merged.
	decoded bool
	checked store.Checked
	invalid error
}

// wireRecord is Record's encoding.
type wireRecord struct {
	Key      string `cbor:"1,keyasint,omitempty"`
	Value    []byte `cbor:"2,keyasint,omitempty"`
	Flags    uint64 `cbor:"3,keyasint,omitempty"`
	Version  uint64 `cbor:"4,keyasint"`
	Origin   string `cbor:"5,keyasint"`
	Deleted  bool   `cbor:"6,keyasint,omitempty"`
	Table    string `cbor:"7,keyasint,omitempty"`
	TableKey string `cbor:"8,keyasint,omitempty"` // the key of a record outside kv
	Prev     uint64 `cbor:"9,keyasint,omitempty"` // nodes that predate it ignore it
}

// MarshalCBOR encodes the record (see Record).
func (r Record) MarshalCBOR() ([]byte, error) {
	w := wireRecord{Value: r.Value, Flags: r.Flags, Version: r.Version, Origin: r.Origin, Deleted: r.Deleted, Prev: r.Prev}
	if r.Table == store.TableKV {
		w.Key = r.Key
	} else {
		w.Table, w.TableKey = r.Table, r.Key
	}
	return cbor.Marshal(w)
}

// recordDec decodes one record of a message whose limits the message's
// decoder has already applied. It lets text that is not valid UTF-8
// through so that the record's check can say which field broke the rule.
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
// bootstrap chunk and checks it, once: store.CheckRecord, which also
// refuses a table this node does not declare. A record that does not
// decode or breaks a rule, such as a key that is not valid UTF-8, does not
// fail the message that carries it: it keeps its place, marked, and is
// dropped and counted as malformed where records are merged (admit), so
// that one bad record a peer holds never stops its replication.
func (r *Record) UnmarshalCBOR(b []byte) error {
	var w wireRecord
	if err := recordDec.Unmarshal(b, &w); err != nil {
		*r = Record{decoded: true, invalid: fmt.Errorf("%w: %v", ErrBadRecord, err)}
		return nil
	}
	*r = Record{Key: w.Key, Value: w.Value, Flags: w.Flags, Version: w.Version,
		Origin: w.Origin, Deleted: w.Deleted, Prev: w.Prev, decoded: true}
	if !isKV(w.Table) {
		r.Table, r.Key = w.Table, w.TableKey
	}
	if w.Key != "" && w.TableKey != "" || !isKV(w.Table) && w.Key != "" {
		r.invalid = fmt.Errorf("%w: key %q in the field of another table", ErrBadRecord, w.Key+w.TableKey)
		return nil
	}
	r.checked, r.invalid = check(r)
	return nil
}

// isKV reports whether a table received names kv: "kv" on the wire is
// store.TableKV.
func isKV(table string) bool { return table == store.TableKV || table == "kv" }

// checkRecord returns why a received record may not be merged: the
// verdict of its decoding, or, for a record made in this process, of a
// check made now (see store.CheckRecord).
func checkRecord(r *Record) error {
	_, err := r.verdict()
	return err
}

// verdict returns the checked record, or why it may not be merged.
func (r *Record) verdict() (store.Checked, error) {
	if r.decoded {
		return r.checked, r.invalid
	}
	return check(r)
}

// onlyIn marks a well-formed record of another table than table as
// malformed: a message for one table carries only its records.
func (r *Record) onlyIn(table string) {
	if c, err := r.verdict(); err == nil && c.Record().Table != table {
		r.decoded, r.invalid = true, fmt.Errorf("%w: a record of %s among those of %s",
			ErrBadRecord, store.TableName(c.Record().Table), store.TableName(table))
	}
}

func check(r *Record) (store.Checked, error) {
	c, err := store.CheckRecord(r.toStore())
	if err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	return c, nil
}

func toWire(r *store.Record) Record {
	return Record{Table: r.Table, Key: r.Key, Value: r.Value, Flags: r.Flags, Version: uint64(r.Version), Origin: r.Origin, Deleted: r.Deleted,
		Prev: uint64(r.Prev)}
}

func (r *Record) toStore() store.Record {
	return store.Record{Table: r.Table, Key: r.Key, Value: r.Value, Flags: r.Flags, Version: store.Stamp(r.Version), Origin: r.Origin, Deleted: r.Deleted,
		Prev: store.Stamp(r.Prev)}
}

// Delta is a gossiped or pushed batch of records.
type Delta struct {
	Records []Record `cbor:"1,keyasint"`
	// Seen, in a push that spreads writes (see Replica.pass), names the
	// nodes known to hold its records: the sender, the peers it pushed
	// them to, and those its own sender named. The receiver passes on
	// what was new to it to peers outside Seen. Anti-entropy's pushes and
	// gossip leave it empty.
	Seen []string `cbor:"2,keyasint,omitempty"`
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
	// Progress is the caller's list of the members' progress; nodes of
	// earlier releases send none and ignore it.
	Progress []NodeProgress `cbor:"4,keyasint,omitempty"`
	// Groups: the caller takes group hashes instead of bucket hashes, and
	// goes on with MethodBuckets, MethodEntries and MethodResolve. Nodes
	// that predate it ignore it and send bucket hashes.
	Groups bool `cbor:"5,keyasint,omitempty"`
}

// DigestResponse says whether the roots match and, if not, carries every
// bucket hash of the responder (or, when the caller asked for them, every
// group hash: DigestGroups hashes of 8 bytes, big-endian, in one byte
// string), with the responder's marks. Refused: the
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
	// Progress is the responder's list of the members' progress (see
	// DigestRequest.Progress).
	Progress []NodeProgress `cbor:"8,keyasint,omitempty"`
	Groups   []byte         `cbor:"9,keyasint,omitempty"`
}

// KeyHash is a (table, key, record hash) entry of a digest bucket, or a
// (table, key, version) entry of a ResolveRequest. Like a Record, an
// entry of a table other than kv carries its key in a field of its own
// (4, with its table in 3), so that a node that knows only kv skips it.
type KeyHash struct {
	Table   string
	Key     string
	Hash    uint64
	Version uint64 // of the record: in a ResolveRequest

	invalid bool // received malformed: see UnmarshalCBOR
}

// wireKeyHash is KeyHash's encoding.
type wireKeyHash struct {
	Key      string `cbor:"1,keyasint,omitempty"`
	Hash     uint64 `cbor:"2,keyasint,omitempty"`
	Table    string `cbor:"3,keyasint,omitempty"`
	TableKey string `cbor:"4,keyasint,omitempty"`
	Version  uint64 `cbor:"5,keyasint,omitempty"`
}

// MarshalCBOR encodes the entry (see KeyHash).
func (k KeyHash) MarshalCBOR() ([]byte, error) {
	w := wireKeyHash{Hash: k.Hash, Version: k.Version}
	if k.Table == store.TableKV {
		w.Key = k.Key
	} else {
		w.Table, w.TableKey = k.Table, k.Key
	}
	return cbor.Marshal(w)
}

// UnmarshalCBOR decodes one entry of a KeysRequest or ResolveRequest. An entry that does not
// decode, whose key breaks the store's rules (a key that is not valid
// UTF-8, sent by a node written before keys had to be) or whose table this
// node does not declare, does not fail the request: it is marked, and
// HandleKeys skips and counts it.
func (k *KeyHash) UnmarshalCBOR(b []byte) error {
	var w wireKeyHash
	*k = KeyHash{invalid: true}
	if err := recordDec.Unmarshal(b, &w); err != nil {
		return nil
	}
	key := w.Key
	if !isKV(w.Table) {
		key = w.TableKey
	}
	if w.Key != "" && w.TableKey != "" || !isKV(w.Table) && w.Key != "" {
		return nil
	}
	table, err := store.CheckTable(w.Table)
	if err != nil || store.CheckKey(key) != nil {
		return nil
	}
	*k = KeyHash{Table: table, Key: key, Hash: w.Hash, Version: w.Version}
	return nil
}

// KeysRequest carries the caller's entries for the buckets that differ.
type KeysRequest struct {
	Buckets []int     `cbor:"1,keyasint"`
	Have    []KeyHash `cbor:"2,keyasint"`
}

// KeysResponse carries the responder's records the caller lacks or holds
// in another version, and the keys the responder wants in return (kv keys
// in Want, those of other tables in WantIn), for the first Done buckets of
// the request (and possibly part of the next).
type KeysResponse struct {
	Records []Record    `cbor:"1,keyasint"`
	Want    []string    `cbor:"2,keyasint"`
	Done    int         `cbor:"3,keyasint"`
	WantIn  []TableKeys `cbor:"4,keyasint,omitempty"`
}

// BucketsRequest asks for the bucket hashes of digest groups.
type BucketsRequest struct {
	Groups []int `cbor:"1,keyasint"`
}

// BucketsResponse carries the hashes of the requested groups' buckets:
// store.DigestBuckets/DigestGroups hashes of 8 bytes, big-endian, per
// group, in the request's order.
type BucketsResponse struct {
	Hashes []byte `cbor:"1,keyasint"`
}

// EntriesRequest asks for the short hashes (see shortHash) of the entries
// of buckets, under the caller's salt.
type EntriesRequest struct {
	Buckets []int  `cbor:"1,keyasint"`
	Salt    uint64 `cbor:"2,keyasint"`
}

// EntriesResponse carries, for each of the leading buckets of the request
// (as many as fit the sync limits, at least one), the short hashes of its
// entries: 4 bytes each, big-endian.
type EntriesResponse struct {
	Hashes [][]byte `cbor:"1,keyasint"`
}

// ResolveRequest carries what the caller found comparing its entries of
// Buckets with the responder's short hashes under Salt: its entries the
// responder does not hold (table, key and version: Have), and the short
// hashes of the responder's entries it does not hold (Lack, 4 bytes each).
// The responder answers with a KeysResponse: its records that are newer
// than the caller's or that the caller lacks, and the keys it wants.
type ResolveRequest struct {
	Buckets []int     `cbor:"1,keyasint"`
	Salt    uint64    `cbor:"2,keyasint"`
	Have    []KeyHash `cbor:"3,keyasint,omitempty"`
	Lack    []byte    `cbor:"4,keyasint,omitempty"`
}

// TableKeys are keys of one table other than kv.
type TableKeys struct {
	Table string   `cbor:"1,keyasint"`
	Keys  []string `cbor:"2,keyasint"`
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
