package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

var (
	metaHorizon  = []byte("horizon")   // tombstones stamped before it may be collected
	metaSyncMark = []byte("sync_mark") // stamp of the last complete sync with a peer
)

// marks are the replication marks kept in the meta bucket.
type marks struct {
	horizon, syncMark atomic.Uint64
}

func (m *marks) load(meta *bolt.Bucket) {
	m.horizon.Store(getUint(meta, metaHorizon))
	m.syncMark.Store(getUint(meta, metaSyncMark))
}

// Horizon returns the collection horizon: this store may have forgotten
// deletes stamped before it, by CollectTombstones here or, through a
// bootstrap (RaiseHorizon), on the peer it copied. Zero: nothing
// forgotten.
func (s *Store) Horizon() Stamp { return Stamp(s.marks.horizon.Load()) }

// RaiseHorizon raises the collection horizon to h, durably; a lower h
// changes nothing.
func (s *Store) RaiseHorizon(h Stamp) error { return s.raiseMark(&s.marks.horizon, metaHorizon, h) }

// SyncMark returns the last sync mark saved by SetSyncMark: the stamp at
// which this store last held everything a peer held. Zero: never synced.
func (s *Store) SyncMark() Stamp { return Stamp(s.marks.syncMark.Load()) }

// SetSyncMark saves m as the sync mark, durably; a lower m changes
// nothing.
func (s *Store) SetSyncMark(m Stamp) error { return s.raiseMark(&s.marks.syncMark, metaSyncMark, m) }

func (s *Store) raiseMark(v *atomic.Uint64, key []byte, m Stamp) error {
	if uint64(m) <= v.Load() {
		return nil
	}
	err := s.write(func(t *txn) error {
		if uint64(m) <= getUint(t.meta, key) {
			return nil
		}
		return t.putMeta(key, uint64(m))
	})
	if err == nil {
		raise(v, uint64(m))
	}
	return err
}

// raise sets v to max(v, m).
func raise(v *atomic.Uint64, m uint64) {
	for cur := v.Load(); m > cur && !v.CompareAndSwap(cur, m); cur = v.Load() {
	}
}

// MergeRange merges recs, a peer's complete records of table for the key
// range (after, through] (through "" runs to the last key), by
// last-writer-wins, and forgets this store's records of table in that
// range that recs lack and for which forget reports true: they are removed
// without a tombstone, as a peer that collected their deletes holds them.
// It returns the records of recs that changed the store and how many
// records it forgot. A forgotten kv key's watches wake, and its index
// moves forward, as for a delete; the feed reports each forgotten record
// (SourceForgotten). Every record of recs must belong to table.
func (s *Store) MergeRange(table, after, through string, recs []Checked, forget func(*Record) bool) ([]Record, int, error) {
	tb, err := lookupTable(table)
	if err != nil {
		return nil, 0, err
	}
	for i := range recs {
		if recs[i].rec.Table != tb.name {
			return nil, 0, fmt.Errorf("store: merge range of %s: a record of %s", TableName(tb.name), TableName(recs[i].rec.Table))
		}
	}
	var (
		won    []Record
		doomed []Entry
	)
	err = s.write(func(t *txn) error {
		won, doomed = won[:0], doomed[:0]
		tt := t.table(tb)
		// A bootstrap inserts in key order: put fills its pages whole.
		// The digest index is written once the range reaches the
		// table's end (see keyindex.go).
		t.bulk = true
		if hb := t.tx.Bucket(localBucket(historyBucket)); hb != nil {
			// So do the history's versions of the records (see
			// history.go), but for its age index.
			hb.FillPercent = 1
		}
		peer := make(map[string]struct{}, len(recs))
		for i := range recs {
			rec := &recs[i].rec
			peer[rec.Key] = struct{}{}
			ok, err := t.merge(tt, rec, SourceRemote)
			if err != nil {
				return err
			}
			if ok {
				won = append(won, *rec)
			}
		}
		c := records(tt.records)
		k, v := c.First()
		if after != "" {
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for ; k != nil && (through == "" || bytes.Compare(k, []byte(through)) <= 0); k, v = c.Next() {
			if _, ok := peer[string(k)]; ok {
				continue
			}
			e, err := t.s.orig.decodeEntry(string(k), v)
			if err != nil {
				return err
			}
			e.Table = tb.name
			if forget(&e.Record) {
				doomed = append(doomed, e)
			}
		}
		// Deleted after the scan: a bbolt cursor skips keys when the
		// bucket changes under it.
		for i := range doomed {
			if !doomed[i].Deleted {
				t.modify++
				t.reap = t.modify
				if tb.name == TableKV {
					t.changed = append(t.changed, doomed[i].Key)
				}
			}
			if err := t.remove(tt, &doomed[i], SourceForgotten); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if through == "" {
		if err := s.flushBulk(); err != nil {
			return won, len(doomed), err
		}
	}
	return won, len(doomed), nil
}

// remove deletes e's record from tt and its digest entry; the feed reports
// it from src.
func (t *txn) remove(tt *tableTx, e *Entry, src Source) error {
	t.dirty = true
	t.note(e.Record, t.modify, src)
	if err := tt.records.Delete([]byte(e.Key)); err != nil {
		return err
	}
	return t.unindexRecord(tt, &e.Record)
}

// metaCoverage holds the replication coverage (SetCoverage).
var metaCoverage = []byte("coverage")

// Coverage returns the coverage saved by SetCoverage: for each node, the
// stamp up to which this store held everything that node held. Empty:
// none saved. A saved value that does not decode reads as empty, which
// claims nothing.
func (s *Store) Coverage() (map[string]Stamp, error) {
	out := map[string]Stamp{}
	err := s.view(func(tx *bolt.Tx) error {
		out = decodeCoverage(tx.Bucket(bucketMeta).Get(metaCoverage))
		return nil
	})
	return out, err
}

// SetCoverage saves cover, replacing the saved coverage, durably.
func (s *Store) SetCoverage(cover map[string]Stamp) error {
	b := encodeCoverage(cover)
	return s.write(func(t *txn) error {
		t.dirty = true
		return t.meta.Put(metaCoverage, b)
	})
}

// encodeCoverage writes each node, in order, as its name's length
// (uvarint), its name and its stamp (8 bytes, big-endian).
func encodeCoverage(cover map[string]Stamp) []byte {
	var b []byte
	for _, n := range slices.Sorted(maps.Keys(cover)) {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
		b = binary.BigEndian.AppendUint64(b, uint64(cover[n]))
	}
	return b
}

func decodeCoverage(b []byte) map[string]Stamp {
	out := map[string]Stamp{}
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) || uint64(len(b)-k)-n < 8 {
			return map[string]Stamp{}
		}
		name := string(b[k : k+int(n)])
		b = b[k+int(n):]
		out[name] = Stamp(binary.BigEndian.Uint64(b))
		b = b[8:]
	}
	return out
}
