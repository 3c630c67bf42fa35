package store

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Keys are UTF-8 text: the replication wire (CBOR text strings), the HTTP
// API (JSON) and the CLI all carry them as such, so a key that is not
// valid UTF-8 could be stored here but never sent, listed or read back
// intact. Every write path refuses such keys (CheckKey). Records holding
// them that reach the store anyway, from a data file written before the
// rule or from a restored backup, are quarantined: moved to a bucket of
// their own that is kept in the file, listed by Quarantined and never
// read, listed, indexed or replicated.
var bucketQuarantine = []byte("quarantine") // key -> entry, as in the kv bucket

// ErrKeyNotUTF8 reports a key that is not valid UTF-8. It wraps
// ErrInvalidKey.
var ErrKeyNotUTF8 = fmt.Errorf("%w: keys must be valid UTF-8", ErrInvalidKey)

// CheckKey returns nil for a key the store accepts, or an error wrapping
// ErrInvalidKey (and ErrKeyNotUTF8 for a key that is not valid UTF-8)
// that names the rule broken.
func CheckKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: length %d (1-%d bytes)", ErrInvalidKey, len(key), MaxKeyLen)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: %q", ErrKeyNotUTF8, key)
	}
	return nil
}

// quarantineInvalid moves the records whose keys are not valid UTF-8 from
// the kv bucket to the quarantine, out of the digest and its index, within
// the transaction that opens the store. It returns how many it moved.
func (s *Store) quarantineInvalid(tx *bolt.Tx) (int, error) {
	kv := tx.Bucket(bucketKV)
	var bad [][]byte
	err := kv.ForEach(func(k, v []byte) error {
		if !utf8.Valid(k) && !validHistoryKey(k, v) {
			bad = append(bad, bytes.Clone(k))
		}
		return nil
	})
	if err != nil || len(bad) == 0 {
		return 0, err
	}
	q, err := tx.CreateBucketIfNotExists(bucketQuarantine)
	if err != nil {
		return 0, err
	}
	meta := tx.Bucket(bucketMeta)
	// A file written before the digest existed has no index yet: the
	// digest is then built from the kv bucket, after this.
	t := &txn{s: s, tx: tx, meta: meta}
	tt := t.kv()
	reap := getUint(meta, metaReapIndex)
	for _, k := range bad {
		e, err := s.orig.decodeEntry(string(k), kv.Get(k))
		if err != nil {
			return 0, err
		}
		if err := quarantinePut(q, &e); err != nil {
			return 0, err
		}
		if err := kv.Delete(k); err != nil {
			return 0, err
		}
		if tt.keys != nil {
			if err := t.unindexRecord(tt, &e.Record); err != nil {
				return 0, err
			}
		}
		// The key leaves the store as a collected tombstone does: the
		// index of a prefix that held it must not go backwards.
		reap = max(reap, e.ModifyIndex)
	}
	return len(bad), putUint(meta, metaReapIndex, reap)
}

// quarantinePut keeps e in the quarantine bucket unless it holds a newer
// version of the key.
func quarantinePut(q *bolt.Bucket, e *Entry) error {
	if v := q.Get([]byte(e.Key)); v != nil {
		if old, err := decodeEntry(e.Key, v); err == nil && Compare(&old.Record, &e.Record) >= 0 {
			return nil
		}
	}
	return q.Put([]byte(e.Key), appendEntry(nil, e))
}

// Quarantine keeps records whose keys are not valid UTF-8, such as those of
// a restored backup, in the quarantine, where Quarantined lists them; a
// record already there wins if it is newer (last-writer-wins). Records
// with a valid key are refused: they belong in the store (Apply).
func (s *Store) Quarantine(recs []Record) error {
	for i := range recs {
		if utf8.ValidString(recs[i].Key) {
			return fmt.Errorf("store: quarantine: key %q is valid UTF-8", recs[i].Key)
		}
		if canonicalTable(recs[i].Table) != TableKV {
			return fmt.Errorf("store: quarantine: key %q: not a kv record", recs[i].Key)
		}
		if len(recs[i].Key) > MaxKeyLen || len(recs[i].Value) > MaxValueLen {
			return fmt.Errorf("store: quarantine: key %q: %w", recs[i].Key, ErrInvalidKey)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	return s.write(func(t *txn) error {
		q, err := t.tx.CreateBucketIfNotExists(bucketQuarantine)
		if err != nil {
			return err
		}
		for i := range recs {
			if err := quarantinePut(q, &Entry{Record: recs[i]}); err != nil {
				return err
			}
		}
		t.dirty = true
		return nil
	})
}

// Quarantined returns the records in the quarantine, in key order: those
// whose keys are not valid UTF-8 (see CheckKey), kept in the file but
// never served or replicated.
func (s *Store) Quarantined() ([]Entry, error) {
	var out []Entry
	err := s.view(func(tx *bolt.Tx) error {
		q := tx.Bucket(bucketQuarantine)
		if q == nil {
			return nil
		}
		return q.ForEach(func(k, v []byte) error {
			e, err := s.orig.decodeEntry(string(k), v)
			if err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}

// QuarantinedAtOpen returns how many records Open moved to the quarantine
// (see Quarantined) because their keys are not valid UTF-8.
func (s *Store) QuarantinedAtOpen() int { return s.quarantinedAtOpen }
