package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Rollback. A rollback writes versions from the history again, as new
// local writes: each gets a new stamp, replicates and wins like any write,
// and its history entry names the version it restored (RollbackOf). A
// plan (PlanRollback, PlanPrefixRollback) lists what would change; Rollback
// writes a plan in one transaction, and refuses it whole if a key changed
// since the plan was made.

// Errors of rollbacks.
var (
	// ErrNoVersion reports a version the history does not hold.
	ErrNoVersion = errors.New("store: no such version in the history")
	// ErrAmbiguousVersion reports a stamp that names versions of more
	// than one origin: name the origin too.
	ErrAmbiguousVersion = errors.New("store: versions of several origins have that stamp")
	// ErrRollbackConflict reports a key written since its rollback was
	// planned.
	ErrRollbackConflict = errors.New("store: key changed since the rollback was planned")
)

// RollbackChange is one key a rollback writes.
type RollbackChange struct {
	Key string
	// To is the version restored: its value and flags, or its delete.
	To HistoryEntry
	// Current is what the store held when the change was planned (Found
	// false: nothing, or a tombstone it has collected).
	Current Entry
	Found   bool
}

// PlanRollback plans the rollback of key to its version stamped version
// (and written by origin, when origin is not empty). It returns no change
// when the key already holds that value.
func (s *Store) PlanRollback(key string, version Stamp, origin string) ([]RollbackChange, error) {
	var (
		out     []RollbackChange
		missing error // said as is, not as a failed read
	)
	err := s.view(func(tx *bolt.Tx) error {
		out = nil
		vs, err := s.scanHistory(tx, HistoryQuery{Key: key, Since: version})
		if err != nil {
			return err
		}
		var to *HistoryEntry
		for i := range vs {
			if vs[i].Version != version || origin != "" && vs[i].Origin != origin {
				continue
			}
			if to != nil {
				missing = fmt.Errorf("%w: %s of %q", ErrAmbiguousVersion, version, key)
				return nil
			}
			to = &vs[i]
		}
		if to == nil {
			missing = fmt.Errorf("%w: %q at %s", ErrNoVersion, key, version)
			return nil
		}
		c, err := s.planChange(tx, key, to)
		if c != nil {
			out = append(out, *c)
		}
		return err
	})
	if err == nil {
		err = missing
	}
	return out, err
}

// PlanPrefixRollback plans the rollback of every key under prefix to its
// state at the time of stamp at, as this node saw it: the newest version
// stamped at or before at that the node held, or no key when the oldest
// version the history keeps was stamped after at by a writer that held
// none (it created the key). Keys whose state at that time the history
// cannot tell (their history starts later, or is empty) are returned in
// unknown and left alone.
func (s *Store) PlanPrefixRollback(prefix string, at Stamp) (changes []RollbackChange, unknown []string, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		changes, unknown = nil, nil
		vs, err := s.scanHistory(tx, HistoryQuery{Key: prefix, Prefix: true})
		if err != nil {
			return err
		}
		// vs is newest first: the state at is the first held version at or
		// before it; the oldest held version comes last.
		type state struct {
			at, oldest *HistoryEntry
		}
		byKey := map[string]*state{}
		var keys []string
		for i := range vs {
			h := &vs[i]
			if !h.Held {
				continue
			}
			st := byKey[h.Key]
			if st == nil {
				st = &state{}
				byKey[h.Key] = st
				keys = append(keys, h.Key)
			}
			if st.at == nil && h.Version <= at {
				st.at = h
			}
			st.oldest = h
		}
		// Live keys without history: unknown.
		c := records(tx.Bucket(bucketKV))
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if _, ok := byKey[string(k)]; ok {
				continue
			}
			e, _, err := s.orig.decodeMeta(string(k), v)
			if err != nil {
				return err
			}
			if !e.Deleted {
				unknown = append(unknown, e.Key)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			st := byKey[k]
			to := st.at
			if to == nil {
				if st.oldest.Prev != 0 {
					unknown = append(unknown, k)
					continue
				}
				to = &HistoryEntry{Key: k, Deleted: true} // created after at
			}
			ch, err := s.planChange(tx, k, to)
			if err != nil {
				return err
			}
			if ch != nil {
				changes = append(changes, *ch)
			}
		}
		slices.Sort(unknown)
		return nil
	})
	return changes, unknown, err
}

// planChange returns the change that restores to as key's value, or nil
// when the store holds that value already.
func (s *Store) planChange(tx *bolt.Tx, key string, to *HistoryEntry) (*RollbackChange, error) {
	c := &RollbackChange{Key: key, To: *to}
	if v := tx.Bucket(bucketKV).Get([]byte(key)); v != nil {
		e, err := s.orig.decodeEntry(key, v)
		if err != nil {
			return nil, err
		}
		c.Current, c.Found = e, true
	}
	live := c.Found && !c.Current.Deleted
	switch {
	case to.Deleted && !live:
		return nil, nil
	case !to.Deleted && live && c.Current.Flags == to.Flags && bytes.Equal(c.Current.Value, to.Value):
		return nil, nil
	}
	return c, nil
}

// Rollback writes changes, a plan, in one transaction: each key gets the
// value and flags of its To version, or a tombstone, stamped now, and its
// history names the version restored. If any key no longer holds the
// version it held when the plan was made, it writes nothing and returns
// ErrRollbackConflict. It returns the entries written, in the plan's
// order.
func (s *Store) Rollback(changes []RollbackChange) ([]Entry, error) {
	for i := range changes {
		if err := checkKV(changes[i].Key, changes[i].To.Value); err != nil {
			return nil, err
		}
	}
	var out []Entry
	err := s.write(func(t *txn) error {
		out = out[:0]
		tt := t.kv()
		for i := range changes {
			ch := &changes[i]
			old, found, err := tt.get(ch.Key)
			if err != nil {
				return err
			}
			if found != ch.Found || found && Compare(&old.Record, &ch.Current.Record) != 0 {
				return fmt.Errorf("%w: %q", ErrRollbackConflict, ch.Key)
			}
			var e Entry
			if ch.To.Deleted {
				e, err = t.localDelete(tt, ch.Key, old, found)
			} else {
				e, err = t.localPut(tt, ch.Key, ch.To.Value, ch.To.Flags, old, found)
			}
			if err != nil {
				return err
			}
			if err := t.historyRollback(&e, &ch.To); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
