package store

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// The digest summarises the store so that two replicas can find what
// differs by exchanging a few kilobytes. Every record has a 64-bit hash of
// its full contents; every key falls in one of DigestBuckets buckets by a
// hash of the key alone; a bucket's hash is the XOR of its records'
// hashes, and the root is a hash of all bucket hashes. Replicas compare
// roots, then bucket hashes, then the entries of the buckets that differ,
// and transfer only the records that differ. A (bucket, key) index of
// record hashes and versions is updated with every write, so a sync reads
// only the differing buckets' entries, and tells from the versions which
// replica holds the later record of a key without reading either.
//
// The bucket hashes live in memory only: Open computes them from the
// index, and each commit XORs its changes in. The index is written behind
// the records (see keyindex.go): a write costs its record on disk, and
// the index entries of many writes go to disk together.
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

// KeyHash is one entry of a digest bucket: a key, the hash of its record
// and the record's version, so that two replicas whose records of a key
// differ can tell, from their indexes alone, which of them holds the
// later one.
type KeyHash struct {
	Table   string // TableKV or a declared table
	Key     string
	Hash    uint64
	Version Stamp
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
			if v == nil || isHistoryKey([]byte(k)) {
				continue
			}
			e, err := s.orig.decodeEntry(k, v)
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
