package store

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Local state. Besides the replicated tables, a store keeps local buckets:
// state this node keeps but never replicates (what was registered through
// its API, check state, render state, history). A local bucket NAME is the
// bbolt bucket "l/NAME", made by its first write; it is out of the digest,
// snapshots, the feed and the modify index. Update writes local state and
// replicated records in one transaction, so one fsync makes both durable.

// ErrReadOnly reports a write through the Tx of View.
var ErrReadOnly = errors.New("store: write in a read transaction")

// Tx is a transaction of Update (read-write) or View (read-only). It is
// valid only inside the function it is passed to.
type Tx struct {
	tx *bolt.Tx
	t  *txn // nil in a read transaction
	s  *Store
}

// Update runs fn in a write transaction and returns once it is on disk
// (or failed). Writers share transactions (group commit): if fn returns an
// error, nothing fn wrote is kept, and the writes it shared a transaction
// with are committed without it; fn may then be run more than once, so it
// must act only through tx and return the same result each time. The
// feed reports fn's writes to replicated tables as SourceLocal.
func (s *Store) Update(fn func(tx *Tx) error) error {
	return s.write(func(t *txn) error { return fn(&Tx{tx: t.tx, t: t, s: s}) })
}

// View runs fn in a read transaction, which sees the store as of its
// start. Keep it short: see ListPage on long reads.
func (s *Store) View(fn func(tx *Tx) error) error {
	return s.view(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx, s: s}) })
}

// Get returns the entry for key in table, tombstones included (check
// Deleted).
func (tx *Tx) Get(table, key string) (Entry, bool, error) {
	tb, err := lookupTable(table)
	if err != nil {
		return Entry{}, false, err
	}
	v := tx.tx.Bucket(tb.records).Get([]byte(key))
	if v == nil {
		return Entry{}, false, nil
	}
	e, err := tx.s.orig.decodeEntry(key, v)
	e.Table = tb.name
	return e, err == nil, err
}

// Scan calls fn for each entry of table under prefix in key order,
// tombstones included, until fn returns an error, which Scan returns.
func (tx *Tx) Scan(table, prefix string, fn func(*Entry) error) error {
	tb, err := lookupTable(table)
	if err != nil {
		return err
	}
	c := records(tx.tx.Bucket(tb.records))
	p := []byte(prefix)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		e, err := tx.s.orig.decodeEntry(string(k), v)
		if err != nil {
			return err
		}
		e.Table = tb.name
		if err := fn(&e); err != nil {
			return err
		}
	}
	return nil
}

// Put writes key in table as a local write, stamped now, and returns the
// entry stored.
func (tx *Tx) Put(table, key string, value []byte, flags uint64) (Entry, error) {
	tt, old, found, err := tx.prepare(table, key, value)
	if err != nil {
		return Entry{}, err
	}
	return tx.t.localPut(tt, key, value, flags, old, found)
}

// Delete writes a tombstone for key in table, stamped now (also when the
// store does not hold the key: see Store.Delete), and returns it.
func (tx *Tx) Delete(table, key string) (Entry, error) {
	tt, old, found, err := tx.prepare(table, key, nil)
	if err != nil {
		return Entry{}, err
	}
	return tx.t.localDelete(tt, key, old, found)
}

// prepare checks a local write and reads the record it replaces.
func (tx *Tx) prepare(table, key string, value []byte) (*tableTx, Entry, bool, error) {
	if tx.t == nil {
		return nil, Entry{}, false, ErrReadOnly
	}
	if err := checkKV(key, value); err != nil {
		return nil, Entry{}, false, err
	}
	tb, err := lookupTable(table)
	if err != nil {
		return nil, Entry{}, false, err
	}
	tt := tx.t.table(tb)
	old, found, err := tt.get(key)
	return tt, old, found, err
}

// Local returns the local bucket name within the transaction (see Store.Local).
func (tx *Tx) Local(name string) *LocalTx {
	b := localBucket(name)
	return &LocalTx{tx: tx, name: b}
}

// LocalTx is a local bucket within a transaction.
type LocalTx struct {
	tx   *Tx
	name []byte
}

// Get returns a copy of the value of key, and whether the bucket holds it.
func (l *LocalTx) Get(key string) ([]byte, bool, error) {
	b := l.tx.tx.Bucket(l.name)
	if b == nil {
		return nil, false, nil
	}
	v := b.Get([]byte(key))
	if v == nil {
		return nil, false, nil
	}
	return bytes.Clone(v), true, nil
}

// Put sets key (1 to MaxKeyLen bytes, not necessarily UTF-8) to value.
func (l *LocalTx) Put(key string, value []byte) error {
	if l.tx.t == nil {
		return ErrReadOnly
	}
	// Local keys may be any bytes: they are never sent anywhere.
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: length %d (1-%d bytes)", ErrInvalidKey, len(key), MaxKeyLen)
	}
	if len(value) > MaxValueLen {
		return fmt.Errorf("%w: %d bytes (max %d)", ErrValueTooLarge, len(value), MaxValueLen)
	}
	b, err := l.tx.tx.CreateBucketIfNotExists(l.name)
	if err != nil {
		return err
	}
	l.tx.t.dirty = true
	return b.Put([]byte(key), value)
}

// Delete removes key; a key the bucket does not hold is no error.
func (l *LocalTx) Delete(key string) error {
	if l.tx.t == nil {
		return ErrReadOnly
	}
	b := l.tx.tx.Bucket(l.name)
	if b == nil || b.Get([]byte(key)) == nil {
		return nil
	}
	l.tx.t.dirty = true
	return b.Delete([]byte(key))
}

// Scan calls fn with each key under prefix, in key order, and a copy of
// its value, until fn returns an error, which Scan returns.
func (l *LocalTx) Scan(prefix string, fn func(key string, value []byte) error) error {
	b := l.tx.tx.Bucket(l.name)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	p := []byte(prefix)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if err := fn(string(k), bytes.Clone(v)); err != nil {
			return err
		}
	}
	return nil
}

// Local is a local bucket: see Tx.Local to use one in a transaction with
// other writes. Each method runs in a transaction of its own; writes share
// group commits with the store's other writers.
type Local struct {
	s    *Store
	name string
}

// Local returns the local bucket name: 1 to 64 bytes of lower-case ASCII
// letters, digits, '_' and '-', starting with a letter. It panics on
// another name.
func (s *Store) Local(name string) *Local {
	localBucket(name)
	return &Local{s: s, name: name}
}

// Get returns a copy of the value of key, and whether the bucket holds it.
func (l *Local) Get(key string) (v []byte, found bool, err error) {
	err = l.s.View(func(tx *Tx) error {
		v, found, err = tx.Local(l.name).Get(key)
		return err
	})
	return v, found, err
}

// Put sets key to value and returns once it is on disk.
func (l *Local) Put(key string, value []byte) error {
	return l.s.Update(func(tx *Tx) error { return tx.Local(l.name).Put(key, value) })
}

// Delete removes key and returns once it is on disk.
func (l *Local) Delete(key string) error {
	return l.s.Update(func(tx *Tx) error { return tx.Local(l.name).Delete(key) })
}

// Scan calls fn with each key under prefix and its value, in key order, in
// one read transaction.
func (l *Local) Scan(prefix string, fn func(key string, value []byte) error) error {
	return l.s.View(func(tx *Tx) error { return tx.Local(l.name).Scan(prefix, fn) })
}

// localBucket returns the bbolt bucket of the local bucket name.
func localBucket(name string) []byte {
	if err := checkName(name); err != nil {
		panic(fmt.Sprintf("store: Local(%q): not a bucket name", name))
	}
	return []byte("l/" + name)
}
