package store

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The digest index on disk (each table's keys bucket: bucket number and
// key -> record hash and version) is written behind the records. A commit
// puts its records' entries in memory (pendingKeys); once pendingFlush
// entries (or pendingFlushBytes of keys) are pending, the commit that
// reaches them also writes them all
// to the keys buckets and records, in the meta value metaKeysIndex, the
// modify index up to which the keys buckets are complete. Each commit then
// writes its records' pages and meta values only, and the index pages are
// written once for many entries: random keys fall in random index pages,
// which a commit per write would each write whole.
//
// A crash loses only the pending entries, and every record they were made
// for carries a modify index above metaKeysIndex: Open indexes those again
// from the records. Removing a record (a collected tombstone, a
// quarantined key) deletes its index entry on disk at once, since no
// record would be left to tell Open.

// How many pending entries, or bytes of their keys, a commit writes to
// disk: about 400 KB of memory for 32-byte keys, at most about 1.4 MB
// whatever the keys. An index page takes about 80 entries of 32-byte keys,
// so that a flush into an index of up to a few hundred thousand keys
// writes each page it touches for several entries, where a write-through
// index wrote one page (and its parents) per write. A larger bulk write
// (a bootstrap, a restore) flushes more often: 4,096 entries per about
// four transactions of 1,024 records.
//
// A bulk load (MergeRange: a bootstrap streaming a peer's store in key
// order) defers the index further: up to bulkFlush entries (or
// bulkFlushBytes of keys, about 12 MB of memory at most) stay pending
// while it runs, and the chunk that ends a table writes them all in index
// order, bulkStep entries a transaction (few pages of bbolt's in memory at
// once), pages filled whole (flushBulk). A bootstrap of 100,000 keys into
// an empty store so writes each index page once, where flushes every 4,096
// entries wrote the whole growing index 25 times.
const (
	pendingFlush      = 4096
	pendingFlushBytes = 1 << 20
	bulkFlush         = 1 << 17
	bulkFlushBytes    = 8 << 20
	bulkStep          = 8192
)

var metaKeysIndex = []byte("keys_index") // the keys buckets hold every record up to this modify index

// keyRef names an index entry: a table's position and the index key.
type keyRef struct {
	table int
	ik    string // bucket number (2 bytes) + key
}

// keyVal is an index entry's value; gone: the entry was deleted.
type keyVal struct {
	hash    uint64
	version Stamp
	gone    bool
}

// pendingKeys are the committed index entries not yet on disk. Writers
// change them holding the commit slot (and mu); readers take mu.
type pendingKeys struct {
	mu    sync.RWMutex
	m     map[keyRef]keyVal // never gone
	bytes int               // of the keys in m
	// bulk: a bulk load left entries pending, which commits keep
	// pending up to the bulk limits until one writes them.
	bulk bool
}

// lookupKey returns the index entry of ik in tt as t sees it: written
// in t, pending, or on disk.
func (t *txn) lookupKey(tt *tableTx, ik []byte) (keyVal, bool) {
	ref := keyRef{tt.tb.id, string(ik)}
	if v, ok := t.keys[ref]; ok {
		return v, !v.gone
	}
	if v, ok := t.s.pend.m[ref]; ok { // the caller holds the commit slot
		return v, true
	}
	if v := tt.keys.Get(ik); len(v) >= 8 {
		kv := keyVal{hash: binary.BigEndian.Uint64(v)}
		if len(v) >= 16 {
			kv.version = Stamp(binary.BigEndian.Uint64(v[8:]))
		}
		return kv, true
	}
	return keyVal{}, false
}

// indexRecord puts r in tt's index (pending) and the digest, replacing
// the key's previous record, whose hash the index holds.
func (t *txn) indexRecord(tt *tableTx, r *Record) error {
	b := BucketOf(r.Key)
	ik := append(bucketKey(b), r.Key...)
	h := RecordHash(r)
	delta := h
	if old, ok := t.lookupKey(tt, ik); ok {
		delta ^= old.hash
	}
	t.digestChange(b, delta)
	if t.keys == nil {
		t.keys = map[keyRef]keyVal{}
	}
	t.keys[keyRef{tt.tb.id, string(ik)}] = keyVal{hash: h, version: r.Version}
	return nil
}

// unindexRecord removes r from tt's index, on disk at once, and from the
// digest.
func (t *txn) unindexRecord(tt *tableTx, r *Record) error {
	b := BucketOf(r.Key)
	ik := append(bucketKey(b), r.Key...)
	if old, ok := t.lookupKey(tt, ik); ok {
		t.digestChange(b, old.hash)
	}
	if t.keys == nil {
		t.keys = map[keyRef]keyVal{}
	}
	t.keys[keyRef{tt.tb.id, string(ik)}] = keyVal{gone: true}
	return tt.keys.Delete(ik)
}

// keyEntry is the index's value for a record: its hash and its version.
func keyEntry(h uint64, v Stamp) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), h), uint64(v))
}

// flushKeys writes the pending entries and t's to disk when they reach
// pendingFlush, or always with all set, and marks the keys buckets
// complete up to t's modify index. It reports whether it wrote them.
func (t *txn) flushKeys(all bool) (bool, error) {
	bulk := t.bulk || t.s.pend.bulk
	if !all {
		n, size := len(t.s.pend.m)+len(t.keys), t.s.pend.bytes
		for ref := range t.keys {
			size += len(ref.ik)
		}
		limit, limitBytes := pendingFlush, pendingFlushBytes
		if bulk {
			limit, limitBytes = bulkFlush, bulkFlushBytes
		}
		if n < limit && size < limitBytes {
			return false, nil
		}
	}
	put := func(ref keyRef, v keyVal) error {
		if v.gone { // deleted on disk already
			return nil
		}
		keys := t.table(t.s.tables[ref.table]).keys
		if bulk {
			// Many entries in one transaction: bbolt splits the
			// nodes they fill only at commit, so the pages come out
			// whole whatever the order of the keys.
			keys.FillPercent = 1
		}
		return keys.Put([]byte(ref.ik), keyEntry(v.hash, v.version))
	}
	// In index order: bbolt inserts into a node's sorted entries, which
	// costs a copy of the node's tail for a key out of order, and a bulk
	// flush fills one node with many pages' worth before it splits.
	refs := make([]keyRef, 0, len(t.s.pend.m)+len(t.keys))
	for ref := range t.s.pend.m {
		if _, ok := t.keys[ref]; !ok {
			refs = append(refs, ref)
		}
	}
	for ref := range t.keys {
		refs = append(refs, ref)
	}
	for _, ref := range sortedRefs(refs) {
		v, ok := t.keys[ref]
		if !ok {
			v = t.s.pend.m[ref]
		}
		if err := put(ref, v); err != nil {
			return false, err
		}
	}
	t.dirty = true
	return true, putUint(t.meta, metaKeysIndex, t.modify)
}

// publishKeys applies a committed transaction's index entries: flushed,
// nothing is pending any more.
func (s *Store) publishKeys(keys map[keyRef]keyVal, flushed, bulk bool) {
	if !flushed && len(keys) == 0 {
		return
	}
	s.pend.mu.Lock()
	defer s.pend.mu.Unlock()
	if flushed {
		s.pend.m, s.pend.bytes, s.pend.bulk = nil, 0, false
		return
	}
	s.pend.bulk = s.pend.bulk || bulk
	if s.pend.m == nil {
		s.pend.m = make(map[keyRef]keyVal, pendingFlush)
	}
	for ref, v := range keys {
		_, had := s.pend.m[ref]
		switch {
		case v.gone && had:
			delete(s.pend.m, ref)
			s.pend.bytes -= len(ref.ik)
		case !v.gone:
			if !had {
				s.pend.bytes += len(ref.ik)
			}
			s.pend.m[ref] = v
		}
	}
}

// sortedRefs returns the refs of entries in index order: table, then
// index key.
func sortedRefs(refs []keyRef) []keyRef {
	slices.SortFunc(refs, func(a, b keyRef) int {
		if c := cmp.Compare(a.table, b.table); c != 0 {
			return c
		}
		return strings.Compare(a.ik, b.ik)
	})
	return refs
}

// flushBulk writes the pending index entries in index order, bulkStep a
// transaction, pages filled whole, and with the last marks the index
// complete. Each step's entries leave the pending ones once committed; a
// crash before the last leaves the index incomplete, as marked, and Open
// indexes the records again.
func (s *Store) flushBulk() error {
	s.slot <- struct{}{}
	defer func() { <-s.slot }()
	if s.closed.Load() {
		return ErrClosed
	}
	refs := make([]keyRef, 0, len(s.pend.m))
	for ref := range s.pend.m {
		refs = append(refs, ref)
	}
	refs = sortedRefs(refs)
	for len(refs) > 0 {
		part := refs[:min(bulkStep, len(refs))]
		refs = refs[len(part):]
		err := s.db.Update(func(tx *bolt.Tx) error {
			for _, ref := range part {
				keys := tx.Bucket(s.tables[ref.table].keys)
				keys.FillPercent = 1 // in index order: nothing comes back to fill a page
				v := s.pend.m[ref]
				if err := keys.Put([]byte(ref.ik), keyEntry(v.hash, v.version)); err != nil {
					return err
				}
			}
			if len(refs) > 0 {
				return nil
			}
			return putUint(tx.Bucket(bucketMeta), metaKeysIndex, s.Index())
		})
		if err != nil {
			return fmt.Errorf("store: write the digest index: %w", err)
		}
		s.committed.Add(1)
		s.pend.mu.Lock()
		for _, ref := range part {
			delete(s.pend.m, ref)
			s.pend.bytes -= len(ref.ik)
		}
		if len(refs) == 0 {
			s.pend.m, s.pend.bytes, s.pend.bulk = nil, 0, false
		}
		s.pend.mu.Unlock()
	}
	return nil
}

// flushPending writes the pending index entries to disk, if any; the
// caller holds the commit slot.
func (s *Store) flushPending() error {
	if len(s.pend.m) == 0 {
		return nil
	}
	return s.commit([]*op{{fn: func(t *txn) error {
		t.flushAll = true
		return nil
	}}})
}

// loadDigest computes the in-memory digest from every table's index,
// after indexing the records written since the index was last complete.
// A table without an index, or whose file still holds the digest buckets
// of an earlier release (which may have written records since without
// updating this index), gets its index built from its records, and the
// earlier release's buckets are removed.
func (s *Store) loadDigest(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	complete := getUint(meta, metaKeysIndex)
	// Indexing many records at once, as after a crash during a bulk
	// load, is a bulk write.
	t := &txn{s: s, tx: tx, meta: meta, bulk: true}
	for _, tb := range s.tables {
		from := complete
		legacy := tx.Bucket(tb.legacyDigest) != nil || tx.Bucket(tb.legacyIndex) != nil
		if keys := tx.Bucket(tb.keys); keys == nil || legacy {
			if err := tx.DeleteBucket(tb.keys); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
				return err
			}
			if _, err := tx.CreateBucket(tb.keys); err != nil {
				return err
			}
			from = 0
		}
		for _, name := range [][]byte{tb.legacyDigest, tb.legacyIndex} {
			if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
				return err
			}
		}
		tt := t.table(tb)
		err := forEachRecord(tt.records, func(k, v []byte) error {
			e, err := s.orig.decodeEntry(string(k), v)
			if err != nil || e.ModifyIndex <= from {
				return err
			}
			e.Table = tb.name
			return t.indexRecord(tt, &e.Record)
		})
		if err != nil {
			return err
		}
	}
	if _, err := t.flushKeys(true); err != nil {
		return err
	}
	if err := putUint(meta, metaKeysIndex, max(getUint(meta, metaIndex), 1)); err != nil {
		return err
	}
	for _, tb := range s.tables {
		err := tx.Bucket(tb.keys).ForEach(func(k, v []byte) error {
			if len(k) > 2 && len(v) >= 8 {
				s.dig.buckets[binary.BigEndian.Uint16(k)%DigestBuckets] ^= binary.BigEndian.Uint64(v)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// BucketKeys returns the (table, key, record hash, version) entries of
// the given buckets, bucket by bucket in the order given, table by table
// in the order of Tables within a bucket, and by key within a table, from
// the indexes alone: no record is read.
func (s *Store) BucketKeys(buckets []int) ([]KeyHash, error) {
	each, err := s.BucketEntries(buckets)
	if err != nil {
		return nil, err
	}
	var out []KeyHash
	for _, part := range each {
		out = append(out, part...)
	}
	return out, nil
}

// BucketEntries returns the entries of each of the given buckets (as
// BucketKeys returns them for that bucket alone), read together: one
// read transaction and one pass over the entries pending in memory,
// where a call of BucketKeys per bucket takes one of each per bucket.
func (s *Store) BucketEntries(buckets []int) ([][]KeyHash, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	want := make(map[uint16]bool, len(buckets))
	for _, b := range buckets {
		want[uint16(b)] = true
	}
	// The pending entries and the read transaction are taken together: a
	// flush that commits in between removes the entries it wrote from the
	// pending ones only after its commit, which a read transaction begun
	// later sees.
	type pendingEntry struct {
		ref keyRef
		v   keyVal
	}
	s.dbMu.RLock() // until the transaction ends: a compaction swaps the file
	defer s.dbMu.RUnlock()
	s.pend.mu.RLock()
	tx, err := s.db.Begin(false)
	pending := map[keyRef]bool{}
	byBucket := map[uint16][]pendingEntry{}
	if err == nil {
		for ref, v := range s.pend.m {
			if b := binary.BigEndian.Uint16([]byte(ref.ik[:2])); want[b] {
				pending[ref] = true
				byBucket[b] = append(byBucket[b], pendingEntry{ref, v})
			}
		}
	}
	s.pend.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	cursors := make([]*bolt.Cursor, len(s.tables))
	for i, tb := range s.tables {
		cursors[i] = tx.Bucket(tb.keys).Cursor()
	}
	out := make([][]KeyHash, len(buckets))
	for i, b := range buckets {
		p := bucketKey(b)
		for j, tb := range s.tables {
			start := len(out[i])
			for k, v := cursors[j].Seek(p); k != nil && len(k) > 2 && k[0] == p[0] && k[1] == p[1]; k, v = cursors[j].Next() {
				if !pending[keyRef{tb.id, string(k)}] && len(v) >= 8 {
					kh := KeyHash{Table: tb.name, Key: string(k[2:]), Hash: binary.BigEndian.Uint64(v)}
					if len(v) >= 16 {
						kh.Version = Stamp(binary.BigEndian.Uint64(v[8:]))
					}
					out[i] = append(out[i], kh)
				}
			}
			n := len(out[i])
			for _, e := range byBucket[uint16(b)] {
				if e.ref.table == tb.id {
					out[i] = append(out[i], KeyHash{Table: tb.name, Key: e.ref.ik[2:], Hash: e.v.hash, Version: e.v.version})
				}
			}
			if len(out[i]) > n {
				slices.SortFunc(out[i][start:], func(a, b KeyHash) int { return strings.Compare(a.Key, b.Key) })
			}
		}
	}
	return out, nil
}
