package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The digest summarises the store so that two replicas can find what
// differs by exchanging a few kilobytes. Every record has a 64-bit hash of
// its full contents; every key falls in one of DigestBuckets buckets by a
// hash of the key alone; a bucket's hash is the XOR of its records'
// hashes, and the root is a hash of all bucket hashes. Replicas compare
// roots, then bucket hashes, then the (key, record hash) pairs of the
// buckets that differ, and transfer only the records that differ. A
// (bucket, key) index of record hashes is updated in the same transaction
// as every write, so a sync reads only the differing buckets' entries.
//
// The bucket hashes live in memory only: Open computes them from the
// index, and each commit XORs its changes in. A write thus costs the
// record and its index entry on disk, not also a page of bucket hashes.
//
// Each table keeps its own index (see Tables); the digest of the store is
// the XOR of the tables', bucket by bucket, so records of every table take
// part in one comparison, and a store holding only kv records has the
// digest it had before tables existed.
const DigestBuckets = 4096

var (
	// bucket number (2 bytes) + key -> record hash (8 bytes) + version (8 bytes)
	bucketKeys = []byte("keys")
	// Where releases before bucketKeys kept the bucket hashes (bucket
	// number -> XOR) and the index (bucket number + key -> record hash).
	// Open removes both, so that such a release, should it open the file
	// again, rebuilds them from the records instead of trusting stale ones.
	bucketDigest = []byte("digest")
	bucketIndex  = []byte("index")
)

// KeyHash is one entry of a digest bucket.
type KeyHash struct {
	Table string // TableKV or a declared table
	Key   string
	Hash  uint64
}

// BucketOf returns the digest bucket of a key.
func BucketOf(key string) int {
	h := sha256.Sum256([]byte(key))
	return int(binary.BigEndian.Uint16(h[:2]) >> 4) // 12 bits
}

// RecordHash is the digest's hash of a record: of every replicated field,
// so two replicas agree on it exactly when they hold the same version. The
// table is hashed last, and only when it is not TableKV, so the hash of a
// kv record is what it was before tables existed.
func RecordHash(r *Record) uint64 {
	h := sha256.New()
	var b [binary.MaxVarintLen64]byte
	write := func(p []byte) {
		h.Write(b[:binary.PutUvarint(b[:], uint64(len(p)))])
		h.Write(p)
	}
	write([]byte(r.Key))
	write(r.Value)
	write([]byte(r.Origin))
	write(binary.BigEndian.AppendUint64(nil, r.Flags))
	write(binary.BigEndian.AppendUint64(nil, uint64(r.Version)))
	if r.Deleted {
		write([]byte{1})
	}
	if r.Table != TableKV {
		write([]byte("table"))
		write([]byte(r.Table))
	}
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

// digest is the in-memory copy of the digest: per bucket, the XOR of the
// tables' digest buckets.
type digest struct {
	mu      sync.Mutex
	buckets [DigestBuckets]uint64
}

func bucketKey(b int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(b)) }

// digestChange XORs h into digest bucket b when the transaction commits.
func (t *txn) digestChange(b int, h uint64) {
	if t.deltas == nil {
		t.deltas = map[int]uint64{}
	}
	t.deltas[b] ^= h
}

// indexRecord puts r in tt's index and the digest, replacing the key's
// previous record, whose hash the index holds.
func (t *txn) indexRecord(tt *tableTx, r *Record) error {
	b := BucketOf(r.Key)
	ik := append(bucketKey(b), r.Key...)
	h := RecordHash(r)
	delta := h
	if v := tt.keys.Get(ik); len(v) >= 8 {
		delta ^= binary.BigEndian.Uint64(v)
	}
	t.digestChange(b, delta)
	return tt.keys.Put(ik, keyEntry(h, r.Version))
}

// keyEntry is the index's value for a record: its hash and its version.
func keyEntry(h uint64, v Stamp) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), h), uint64(v))
}

// unindexRecord removes r from tt's index and the digest.
func (t *txn) unindexRecord(tt *tableTx, r *Record) error {
	b := BucketOf(r.Key)
	ik := append(bucketKey(b), r.Key...)
	if v := tt.keys.Get(ik); len(v) >= 8 {
		t.digestChange(b, binary.BigEndian.Uint64(v))
	}
	return tt.keys.Delete(ik)
}

// publishDigest applies a committed transaction's bucket changes.
func (s *Store) publishDigest(deltas map[int]uint64) {
	if len(deltas) == 0 {
		return
	}
	s.dig.mu.Lock()
	for b, d := range deltas {
		s.dig.buckets[b] ^= d
	}
	s.dig.mu.Unlock()
}

// loadDigest computes the in-memory digest from every table's index. A
// table without one, or whose file still holds the digest buckets of an
// earlier release (which may have written records since without updating
// this index), gets its index built from its records, and the earlier
// release's buckets are removed.
func (s *Store) loadDigest(tx *bolt.Tx) error {
	for _, tb := range s.tables {
		legacy := tx.Bucket(tb.legacyDigest) != nil || tx.Bucket(tb.legacyIndex) != nil
		if keys := tx.Bucket(tb.keys); keys == nil || legacy {
			if err := s.buildIndex(tx, tb); err != nil {
				return err
			}
		}
		for _, name := range [][]byte{tb.legacyDigest, tb.legacyIndex} {
			if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
				return err
			}
		}
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

// buildIndex (re)builds tb's index from its records.
func (s *Store) buildIndex(tx *bolt.Tx, tb *table) error {
	if err := tx.DeleteBucket(tb.keys); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return err
	}
	if _, err := tx.CreateBucket(tb.keys); err != nil {
		return err
	}
	t := &txn{s: s, tx: tx}
	tt := t.table(tb)
	return tt.records.ForEach(func(k, v []byte) error {
		e, err := decodeEntry(string(k), v)
		if err != nil {
			return err
		}
		e.Table = tb.name
		return t.indexRecord(tt, &e.Record)
	})
}

// DigestRoot returns the hash of all bucket hashes: equal roots mean equal
// stores (tombstones included).
//
// The root covers every write whose call has returned. A commit's digest
// change is published just after the commit, once bbolt has synced it, and
// readers see a committed record from the moment its meta page is written:
// while another writer's commit is being synced, Get may return a record
// that DigestRoot does not include yet. Anti-entropy tolerates this (a
// lagging root costs at most one more round); a caller that compares roots
// with what it read must poll until they agree.
func (s *Store) DigestRoot() uint64 {
	s.dig.mu.Lock()
	defer s.dig.mu.Unlock()
	h := sha256.New()
	var b [8]byte
	for _, v := range s.dig.buckets {
		binary.BigEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

// DigestBucketHashes returns a copy of every bucket's hash.
func (s *Store) DigestBucketHashes() []uint64 {
	s.dig.mu.Lock()
	defer s.dig.mu.Unlock()
	return append([]uint64(nil), s.dig.buckets[:]...)
}

// BucketKeys returns the (table, key, record hash) entries of the given
// buckets, table by table in the order of Tables, from the indexes alone:
// no record is read.
func (s *Store) BucketKeys(buckets []int) ([]KeyHash, error) {
	var out []KeyHash
	err := s.view(func(tx *bolt.Tx) error {
		for _, tb := range s.tables {
			c := tx.Bucket(tb.keys).Cursor()
			for _, b := range buckets {
				p := bucketKey(b)
				for k, v := c.Seek(p); k != nil && len(k) > 2 && k[0] == p[0] && k[1] == p[1]; k, v = c.Next() {
					if len(v) >= 8 {
						out = append(out, KeyHash{Table: tb.name, Key: string(k[2:]), Hash: binary.BigEndian.Uint64(v)})
					}
				}
			}
		}
		return nil
	})
	return out, err
}

// Records returns the stored records of keys in table, tombstones
// included; keys the store does not hold are skipped. Each record read is
// counted (see RecordsRead).
func (s *Store) Records(table string, keys []string) ([]Record, error) {
	tb, err := lookupTable(table)
	if err != nil {
		return nil, err
	}
	var out []Record
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(tb.records)
		for _, k := range keys {
			v := b.Get([]byte(k))
			if v == nil {
				continue
			}
			e, err := decodeEntry(k, v)
			if err != nil {
				return err
			}
			e.Table = tb.name
			out = append(out, e.Record)
		}
		return nil
	})
	s.recordsRead.Add(uint64(len(out)))
	return out, err
}

// RecordsRead returns how many records Records has read: a measure of
// what anti-entropy costs.
func (s *Store) RecordsRead() uint64 { return s.recordsRead.Load() }
