package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
)

// Record is one replicated key: the unit that the store persists, merges
// and ships to other nodes.
type Record struct {
	Table   string // TableKV ("") or a declared table (see DeclareTable)
	Key     string
	Value   []byte
	Flags   uint64
	Version Stamp  // hybrid logical clock stamp of the write
	Origin  string // id of the node that made the write
	Deleted bool   // a tombstone: the key was deleted at Version
	// Prev is the stamp of the version of the key its writer held when it
	// wrote this one: 0 when it held none. It orders nothing; history
	// (see History) reads it to tell a version its writer had seen and
	// replaced from a concurrent one that last-writer-wins discarded. Only
	// kv records carry it.
	Prev Stamp
}

// Entry is a record as this node holds it, with the node's local indexes.
// The indexes are per node: two nodes holding the same record may give it
// different indexes.
type Entry struct {
	Record
	CreateIndex uint64 // local index at which the key was last created
	ModifyIndex uint64 // local index of the last change to the key
}

// Compare orders records by (Version, Origin), the last-writer-wins order.
// Records with equal (Version, Origin) are ordered by (Deleted, Value,
// Flags, Key, Table, Prev), so that the order is total even over corrupt or forged input
// and Merge stays commutative. It returns -1, 0 or +1.
func Compare(a, b *Record) int {
	if c := cmp.Compare(a.Version, b.Version); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Origin, b.Origin); c != 0 {
		return c
	}
	if a.Deleted != b.Deleted {
		if a.Deleted {
			return 1
		}
		return -1
	}
	if c := bytes.Compare(a.Value, b.Value); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Flags, b.Flags); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Table, b.Table); c != 0 {
		return c
	}
	return cmp.Compare(a.Prev, b.Prev)
}

// Merge returns the winner of two versions of a key under last-writer-wins:
// the greater under Compare. It is commutative, associative and idempotent,
// so replicas that see the same writes in any order and any number of times
// hold the same record.
func Merge(a, b Record) Record {
	if Compare(&a, &b) >= 0 {
		return a
	}
	return b
}

// Errors returned when decoding stored or received records.
var (
	// ErrCorrupt reports bytes that do not decode as a record.
	ErrCorrupt = errors.New("store: corrupt record")
)

const (
	entryFormat   byte = 1 // origin inline: snapshots, and files before interning
	entryInterned byte = 2 // origin by its number in the file (see origins.go)
	flagDeleted   byte = 1 << 0
	flagPrev      byte = 1 << 1 // a Prev follows the version
	flagCreated   byte = 1 << 2 // format 2: createIndex equals modifyIndex and is left out
	maxOriginLen       = 256
	maxTableLen        = 64
	// MaxKeyLen is the longest key the store accepts, in bytes.
	MaxKeyLen = 4096
	// MaxValueLen is the largest value the store accepts, in bytes.
	MaxValueLen = 16 << 20
)

// appendEntry encodes e without its key (the key is the bbolt key):
//
//	format(1) bits(1) createIndex modifyIndex flags version [prev] (uvarints)
//	len(origin) origin len(value) value
//
// prev is there when bits has flagPrev: a record without one encodes as
// before Prev existed.
func appendEntry(dst []byte, e *Entry) []byte {
	var bits byte
	if e.Deleted {
		bits |= flagDeleted
	}
	if e.Prev != 0 {
		bits |= flagPrev
	}
	dst = append(dst, entryFormat, bits)
	dst = binary.AppendUvarint(dst, e.CreateIndex)
	dst = binary.AppendUvarint(dst, e.ModifyIndex)
	dst = binary.AppendUvarint(dst, e.Flags)
	dst = binary.AppendUvarint(dst, uint64(e.Version))
	if e.Prev != 0 {
		dst = binary.AppendUvarint(dst, uint64(e.Prev))
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.Origin)))
	dst = append(dst, e.Origin...)
	dst = binary.AppendUvarint(dst, uint64(len(e.Value)))
	return append(dst, e.Value...)
}

// appendInterned encodes e as the data file stores it, its origin
// numbered origin (see origins.go):
//
//	format(1)=2 bits(1) modifyIndex [createIndex] flags version [prev]
//	origin (uvarints) len(value) value
//
// createIndex is left out when it equals modifyIndex (bits has
// flagCreated), as it does for every key written once.
func appendInterned(dst []byte, e *Entry, origin uint64) []byte {
	var bits byte
	if e.Deleted {
		bits |= flagDeleted
	}
	if e.Prev != 0 {
		bits |= flagPrev
	}
	if e.CreateIndex == e.ModifyIndex {
		bits |= flagCreated
	}
	dst = append(dst, entryInterned, bits)
	dst = binary.AppendUvarint(dst, e.ModifyIndex)
	if bits&flagCreated == 0 {
		dst = binary.AppendUvarint(dst, e.CreateIndex)
	}
	dst = binary.AppendUvarint(dst, e.Flags)
	dst = binary.AppendUvarint(dst, uint64(e.Version))
	if e.Prev != 0 {
		dst = binary.AppendUvarint(dst, uint64(e.Prev))
	}
	dst = binary.AppendUvarint(dst, origin)
	dst = binary.AppendUvarint(dst, uint64(len(e.Value)))
	return append(dst, e.Value...)
}

// decodeEntry decodes the bytes appendEntry wrote. The value is copied, so
// the result stays valid after the bbolt transaction ends.
func decodeEntry(key string, b []byte) (Entry, error) {
	e, v, err := decodeMeta(key, b)
	if err == nil && len(v) > 0 {
		e.Value = bytes.Clone(v)
	}
	return e, err
}

// decodeMeta decodes the bytes appendEntry wrote but for the value, which
// it returns uncopied as a slice of b: valid only while b is. It refuses
// format 2, whose origins only the data file can name.
func decodeMeta(key string, b []byte) (Entry, []byte, error) {
	return decodeStored(key, b, nil)
}

// decodeStored decodes format 1 (appendEntry) or, with origin to name its
// origins, format 2 (appendInterned), but for the value, returned uncopied.
func decodeStored(key string, b []byte, origin func(uint64) (string, bool)) (Entry, []byte, error) {
	d := decoder{b: b}
	f := d.byte()
	if f != entryFormat && (f != entryInterned || origin == nil) {
		return Entry{}, nil, fmt.Errorf("%w: key %q: unknown format %d", ErrCorrupt, key, f)
	}
	bits := d.byte()
	e := Entry{Record: Record{Key: key}}
	e.Deleted = bits&flagDeleted != 0
	known := flagDeleted | flagPrev
	if f == entryFormat {
		e.CreateIndex = d.uvarint()
		e.ModifyIndex = d.uvarint()
	} else {
		known |= flagCreated
		e.ModifyIndex = d.uvarint()
		e.CreateIndex = e.ModifyIndex
		if bits&flagCreated == 0 {
			e.CreateIndex = d.uvarint()
		}
	}
	e.Flags = d.uvarint()
	e.Version = Stamp(d.uvarint())
	if bits&flagPrev != 0 {
		if e.Prev = Stamp(d.uvarint()); e.Prev == 0 {
			d.fail()
		}
	}
	if f == entryFormat {
		e.Origin = string(d.bytes(maxOriginLen))
	} else if id := d.uvarint(); d.err == nil {
		var ok bool
		if e.Origin, ok = origin(id); !ok {
			return Entry{}, nil, fmt.Errorf("%w: key %q: unknown origin %d", ErrCorrupt, key, id)
		}
	}
	v := d.bytes(MaxValueLen)
	if d.err != nil || bits&^known != 0 || len(d.b) != 0 {
		return Entry{}, nil, fmt.Errorf("%w: key %q", ErrCorrupt, key)
	}
	return e, v, nil
}

// decoder reads the fields of a record; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(limit int) []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(limit) || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrCorrupt
	}
}
