package store

import (
	"bytes"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Put writes key locally with a new stamp and returns the stored entry once
// it is on disk.
func (s *Store) Put(key string, value []byte, flags uint64) (Entry, error) {
	e, _, err := s.CAS(key, value, flags, nil)
	return e, err
}

// CAS writes key only if its current modify index equals *index; a nil
// index writes unconditionally, and *index == 0 writes only if the key does
// not exist. It reports whether the write happened.
//
// The index compared is this node's local index: CAS orders writers that
// talk to the same node, it is not a mesh-wide lock.
func (s *Store) CAS(key string, value []byte, flags uint64, index *uint64) (Entry, bool, error) {
	if err := checkKV(key, value); err != nil {
		return Entry{}, false, err
	}
	var (
		out Entry
		ok  bool
	)
	err := s.write(func(t *txn) error {
		out, ok = Entry{}, false
		tt := t.kv()
		old, found, err := tt.get(key)
		if err != nil {
			return err
		}
		if index != nil && !casMatches(*index, old, found && !old.Deleted) {
			return nil
		}
		out, err = t.localPut(tt, key, value, flags, old, found)
		ok = err == nil
		return err
	})
	return out, ok, err
}

// localPut writes key in tt as a local write that replaces old (found:
// the store held it).
func (t *txn) localPut(tt *tableTx, key string, value []byte, flags uint64, old Entry, found bool) (Entry, error) {
	e := Entry{Record: Record{
		Key: key, Value: value, Flags: flags, Origin: t.s.nodeID,
		Version: t.s.clock.NowAfter(old.Version), Prev: prevOf(tt, old, found),
	}}
	if found && !old.Deleted {
		e.CreateIndex = old.CreateIndex
	}
	if err := t.put(tt, &e, SourceLocal); err != nil {
		return e, err
	}
	return e, t.historyReplaced(tt, &old, found, &e)
}

// localDelete writes a tombstone for key in tt, as a local write that
// replaces old (found: the store held it).
func (t *txn) localDelete(tt *tableTx, key string, old Entry, found bool) (Entry, error) {
	if !found {
		old = Entry{Record: Record{Key: key}}
	}
	tomb := Entry{Record: Record{
		Key: key, Origin: t.s.nodeID, Deleted: true,
		Version: t.s.clock.NowAfter(old.Version), Prev: prevOf(tt, old, found),
	}, CreateIndex: old.CreateIndex}
	if err := t.put(tt, &tomb, SourceLocal); err != nil {
		return tomb, err
	}
	return tomb, t.historyReplaced(tt, &old, found, &tomb)
}

func casMatches(index uint64, old Entry, live bool) bool {
	if index == 0 {
		return !live
	}
	return live && old.ModifyIndex == index
}

// Delete writes a tombstone for key, stamped now, and reports whether the
// condition held: with a non-nil index it deletes only if the key's modify
// index equals *index. Without one it writes the tombstone even when this
// node does not hold the key (or holds it deleted): an older write of the
// key may still be on its way from another node, and the tombstone is what
// makes it lose when it arrives.
func (s *Store) Delete(key string, index *uint64) (bool, error) {
	if err := checkKV(key, nil); err != nil {
		return false, err
	}
	var ok bool
	err := s.write(func(t *txn) error {
		ok = false
		tt := t.kv()
		old, found, err := tt.get(key)
		if err != nil {
			return err
		}
		if index != nil && (*index == 0 || !casMatches(*index, old, found && !old.Deleted)) {
			return nil
		}
		_, err = t.localDelete(tt, key, old, found)
		ok = err == nil
		return err
	})
	return ok, err
}

// DeleteTree writes tombstones for every live key under prefix and returns
// how many it deleted.
func (s *Store) DeleteTree(prefix string) (int, error) {
	var n int
	err := s.write(func(t *txn) error {
		n = 0
		tt := t.kv()
		var doomed []Entry
		c := records(tt.records)
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			e, err := s.orig.decodeEntry(string(k), v)
			if err != nil {
				return err
			}
			if !e.Deleted {
				doomed = append(doomed, e)
			}
		}
		for _, e := range doomed {
			if _, err := t.localDelete(tt, e.Key, e, true); err != nil {
				return err
			}
		}
		n = len(doomed)
		return nil
	})
	return n, err
}

// Apply checks records written elsewhere (CheckRecord) and merges them
// into the store by last-writer-wins, table by table, and returns how many
// changed it. Records that lose, or that equal what the store holds,
// change nothing: they take no index and wake no watch. Each applied stamp
// advances the clock; callers reject stamps too far ahead before calling
// Apply. Large slices are committed in chunks; the first record that
// fails its check stops Apply with the error.
func (s *Store) Apply(recs []Record) (int, error) {
	const chunk = 1024
	n := 0
	for len(recs) > 0 {
		part := recs[:min(chunk, len(recs))]
		recs = recs[len(part):]
		checked := make([]Checked, len(part))
		for i := range part {
			var err error
			if checked[i], err = CheckRecord(part[i]); err != nil {
				return n, err
			}
		}
		changed, err := s.merge(checked, SourceRemote)
		n += len(changed)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// ApplyChecked is Apply for records already checked, returning the records
// that changed the store, for callers that pass news on (replication
// re-gossips them).
func (s *Store) ApplyChecked(recs []Checked) ([]Record, error) {
	changed, _, err := s.mergeLost(recs, SourceRemote)
	return changed, err
}

// ApplyCheckedLost is ApplyChecked that also returns the records its
// history marks lost for the first time (see History): the held versions
// that records replaced, and records that lost to what the store holds.
// Replication passes them on once, so that every node learns of a write
// last-writer-wins discarded, even one the mesh converged past before it
// reached it.
func (s *Store) ApplyCheckedLost(recs []Checked) (changed, lost []Record, err error) {
	return s.mergeLost(recs, SourceRemote)
}

// merge applies records in chunks, each in a transaction of its own, and
// returns those that changed the store; the feed reports them from src.
func (s *Store) merge(recs []Checked, src Source) ([]Record, error) {
	changed, _, err := s.mergeLost(recs, src)
	return changed, err
}

// mergeLost is merge that also returns the records newly marked lost.
func (s *Store) mergeLost(recs []Checked, src Source) (changed, lost []Record, err error) {
	const chunk = 1024
	for len(recs) > 0 {
		part := recs[:min(chunk, len(recs))]
		recs = recs[len(part):]
		var won, newlyLost []Record
		err := s.write(func(t *txn) error {
			won = won[:0]
			// A restore is a bulk load: RestoreWith writes the index
			// at its end (see keyindex.go).
			t.bulk = t.bulk || src == SourceRestore
			from := len(t.lost)
			defer func() { newlyLost = append(newlyLost[:0], t.lost[from:]...) }()
			for i := range part {
				rec := &part[i].rec
				tb, err := lookupTable(rec.Table)
				if err != nil {
					return err
				}
				ok, err := t.merge(t.table(tb), rec, src)
				if err != nil {
					return err
				}
				if ok {
					won = append(won, *rec)
				}
			}
			return nil
		})
		if err != nil {
			return changed, lost, err
		}
		changed = append(changed, won...)
		lost = append(lost, newlyLost...)
	}
	return changed, lost, nil
}

// merge stores rec in tt if it beats the stored version of its key.
func (t *txn) merge(tt *tableTx, rec *Record, src Source) (bool, error) {
	old, found, err := tt.get(rec.Key)
	if err != nil {
		return false, err
	}
	if found && Compare(&old.Record, rec) >= 0 {
		return false, t.historyRejected(tt, &old, rec)
	}
	t.s.clock.Observe(rec.Version)
	e := Entry{Record: *rec}
	if found && !old.Deleted && !rec.Deleted {
		e.CreateIndex = old.CreateIndex
	}
	if err := t.put(tt, &e, src); err != nil {
		return false, err
	}
	return true, t.historyReplaced(tt, &old, found, &e)
}

// Get returns the entry for key, tombstones included (check Deleted), and
// the index a blocking query on the key waits past: the key's modify index
// or, for a key the store does not hold, the store's index at the time of
// the read, so that the key's creation passes it.
func (s *Store) Get(key string) (e Entry, found bool, index uint64, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		index = getUint(tx.Bucket(bucketMeta), metaIndex)
		v := tx.Bucket(bucketKV).Get([]byte(key))
		if v == nil {
			return nil
		}
		e, err = s.orig.decodeEntry(key, v)
		found = err == nil
		return err
	})
	if found {
		index = e.ModifyIndex
	}
	return e, found, s.floorIndex(index), err
}

// List returns the live entries under prefix in key order, and the largest
// modify index under the prefix, deletions included.
func (s *Store) List(prefix string) ([]Entry, uint64, error) {
	var out []Entry
	idx, err := s.scan(prefix, func(e *Entry) { out = append(out, *e) })
	return out, idx, err
}

// Keys returns the live keys under prefix. With a separator, keys that
// continue past the separator after the prefix are cut just after it and
// listed once, as Consul does ("a/b/c", "a/d" under "a/" with "/" give
// "a/b/", "a/d").
func (s *Store) Keys(prefix, separator string) ([]string, uint64, error) {
	var out []string
	idx, err := s.scan(prefix, func(e *Entry) {
		k := e.Key
		if separator != "" {
			if i := strings.Index(k[len(prefix):], separator); i >= 0 {
				k = k[:len(prefix)+i+len(separator)]
			}
		}
		if n := len(out); n == 0 || out[n-1] != k {
			out = append(out, k)
		}
	})
	return out, idx, err
}

// scan calls fn for each live entry under prefix and returns the largest
// modify index seen, tombstones included, or, when the prefix holds
// nothing, the store's index at the time of the read.
func (s *Store) scan(prefix string, fn func(*Entry)) (uint64, error) {
	var idx uint64
	err := s.view(func(tx *bolt.Tx) error {
		c := records(tx.Bucket(bucketKV))
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			e, err := s.orig.decodeEntry(string(k), v)
			if err != nil {
				return err
			}
			idx = max(idx, e.ModifyIndex)
			if !e.Deleted {
				fn(&e)
			}
		}
		if idx == 0 {
			idx = getUint(tx.Bucket(bucketMeta), metaIndex)
		}
		return nil
	})
	return s.floorIndex(idx), err
}

// floorIndex raises an index to the last collection's index and to 1, so
// that the index of a key or prefix never goes backwards when tombstones
// are collected and is never 0.
func (s *Store) floorIndex(idx uint64) uint64 {
	return max(idx, s.reapIndex.Load(), 1)
}

func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if err := s.db.View(fn); err != nil {
		return fmt.Errorf("store: read: %w", err)
	}
	return nil
}

// CollectTombstones removes the tombstones of every table stamped before
// horizon and returns how many it removed; when it removes any, it raises
// the store's collection horizon (Horizon) to horizon in the same
// transaction. The index of a key or prefix that held one does not go
// backwards: reads floor their index at the largest collected index. The
// feed reports each removal (SourceCollected).
func (s *Store) CollectTombstones(horizon Stamp) (int, error) {
	due := func(e *Entry) bool { return e.Deleted && e.Version < horizon }
	// A read first: a pass with nothing to collect writes nothing.
	var some bool
	err := s.view(func(tx *bolt.Tx) error {
		for _, tb := range s.tables {
			c := records(tx.Bucket(tb.records))
			for k, v := c.First(); k != nil && !some; k, v = c.Next() {
				e, _, err := s.orig.decodeMeta(string(k), v)
				if err != nil {
					return err
				}
				some = due(&e)
			}
		}
		return nil
	})
	if err != nil || !some {
		return 0, err
	}
	var n int
	err = s.write(func(t *txn) error {
		n = 0
		for _, tb := range s.tables {
			tt := t.table(tb)
			var doomed []Entry
			err := forEachRecord(tt.records, func(k, v []byte) error {
				e, err := s.orig.decodeEntry(string(k), v)
				if err != nil {
					return err
				}
				if due(&e) {
					e.Table = tb.name
					doomed = append(doomed, e)
					t.reap = max(t.reap, e.ModifyIndex)
				}
				return nil
			})
			if err != nil {
				return err
			}
			for i := range doomed {
				if err := t.remove(tt, &doomed[i], SourceCollected); err != nil {
					return err
				}
			}
			n += len(doomed)
		}
		if n > 0 && uint64(horizon) > getUint(t.meta, metaHorizon) {
			return t.putMeta(metaHorizon, uint64(horizon))
		}
		return nil
	})
	if err == nil && n > 0 {
		raise(&s.marks.horizon, uint64(horizon))
	}
	return n, err
}
