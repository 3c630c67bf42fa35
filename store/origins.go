package store

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Origins are interned in the data file: a record stored there names the
// node that wrote it by a small number, which the bucket "origins" maps to
// the node's id (a 36-byte UUID), instead of carrying the id itself. A
// mesh has a handful of writers, so this takes a byte or two per record in
// place of 37; on 100,000 records of 100 bytes it is a fifth of the file.
// Only the file interns: snapshots and the wire carry the ids themselves,
// and records stored before interning (format 1) are read as they are.
//
// Numbers are given in the write transaction that first stores a record of
// the origin, which also writes the number to the bucket; a transaction
// that fails takes its numbers back. Only the writer holding the commit
// slot gives numbers; readers look them up without a lock.

var bucketOrigins = []byte("origins")

// maxOrigins bounds the origins a file interns. Records of further
// origins are stored with their ids (format 1): a node that received
// forged records of a million ids keeps working, with a larger file.
const maxOrigins = 1 << 16

// originTable maps interned numbers to origins and back. Number 0 is
// never given (it stands for none).
type originTable struct {
	names atomic.Pointer[[]string] // by number; readers load it
	// Held with the commit slot (or during Open):
	ids    map[string]uint64
	stored int // names[:stored] are committed
}

// load reads the origins bucket, creating it if need be.
func (o *originTable) load(tx *bolt.Tx) error {
	b, err := tx.CreateBucketIfNotExists(bucketOrigins)
	if err != nil {
		return err
	}
	names := []string{""}
	o.ids = map[string]uint64{}
	err = b.ForEach(func(k, v []byte) error {
		if len(k) != 8 || binary.BigEndian.Uint64(k) != uint64(len(names)) || len(v) == 0 || len(v) > maxOriginLen {
			return fmt.Errorf("%w: origin %x", ErrCorrupt, k)
		}
		o.ids[string(v)] = uint64(len(names))
		names = append(names, string(v))
		return nil
	})
	if err != nil {
		return err
	}
	o.stored = len(names)
	o.names.Store(&names)
	return nil
}

// intern returns origin's number, giving it one (written in tx) if it has
// none; false when the table is full or origin is empty. The caller holds
// the commit slot.
func (o *originTable) intern(tx *bolt.Tx, origin string) (uint64, bool, error) {
	if id, ok := o.ids[origin]; ok {
		return id, true, nil
	}
	names := *o.names.Load()
	if origin == "" || len(names) >= maxOrigins {
		return 0, false, nil
	}
	id := uint64(len(names))
	if err := tx.Bucket(bucketOrigins).Put(binary.BigEndian.AppendUint64(nil, id), []byte(origin)); err != nil {
		return 0, false, err
	}
	next := append(names[:len(names):len(names)], origin)
	o.names.Store(&next)
	o.ids[origin] = id
	return id, true, nil
}

// settle keeps the numbers given since the last settle if their
// transaction committed, and takes them back if it did not. The caller
// holds the commit slot.
func (o *originTable) settle(committed bool) {
	names := *o.names.Load()
	if committed {
		o.stored = len(names)
		return
	}
	if len(names) == o.stored {
		return
	}
	for _, n := range names[o.stored:] {
		delete(o.ids, n)
	}
	kept := names[:o.stored:o.stored]
	o.names.Store(&kept)
}

// lookup returns the origin numbered id, for decoding; a nil table knows
// none.
func (o *originTable) lookup(id uint64) (string, bool) {
	if o == nil {
		return "", false
	}
	names := *o.names.Load()
	if id == 0 || id >= uint64(len(names)) {
		return "", false
	}
	return names[id], true
}

// appendStored encodes e as the data file stores it: its origin interned
// (format 2), or, when the table takes no more origins, as in a snapshot
// (format 1).
func (t *txn) appendStored(e *Entry) ([]byte, error) {
	id, ok, err := t.s.orig.intern(t.tx, e.Origin)
	if err != nil || !ok {
		return appendEntry(nil, e), err
	}
	return appendInterned(nil, e, id), nil
}

// decodeEntry decodes a record as the data file stores it, in either
// format; the value is copied.
func (o *originTable) decodeEntry(key string, b []byte) (Entry, error) {
	e, v, err := o.decodeMeta(key, b)
	if err == nil && len(v) > 0 {
		e.Value = append([]byte(nil), v...)
	}
	return e, err
}

// decodeMeta is decodeEntry but for the value, returned uncopied.
func (o *originTable) decodeMeta(key string, b []byte) (Entry, []byte, error) {
	return decodeStored(key, b, o.lookup)
}
