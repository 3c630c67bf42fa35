package store

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// RestoreOptions tune RestoreWith.
type RestoreOptions struct {
	// MaxAhead, when positive, drops the records stamped more than
	// MaxAhead ahead of the store's wall clock, as replication rejects them
	// from peers, so that a backup made on a device whose clock ran fast
	// cannot pin keys. Zero takes every stamp.
	MaxAhead time.Duration
}

// RestoreResult says what a restore did.
type RestoreResult struct {
	Changed int // records that changed the store
	// Quarantined are the keys, not valid UTF-8, of the kv records kept
	// in the quarantine instead (see Quarantined).
	Quarantined []string
	Malformed   int // records CheckRecord refused for another reason: dropped
	Rejected    int // records stamped past RestoreOptions.MaxAhead: dropped
}

// Restore is RestoreWith without options, returning how many records
// changed the store.
func (s *Store) Restore(r io.Reader) (int, error) {
	res, err := s.RestoreWith(r, RestoreOptions{})
	if err != nil {
		err = fmt.Errorf("store: restore: %w", err)
	}
	return res.Changed, err
}

// RestoreWith merges the records of a snapshot stream into the store by
// last-writer-wins: a record older than what the store holds is ignored, it
// never overwrites blindly. Records are checked as records from a peer are
// (CheckRecord) and applied in chunks as they are verified, so a stream cut
// short leaves the store with a valid merge of its first part and an
// error, the stream's own (see SnapshotReader.Next). kv records whose keys
// are not valid UTF-8 (a backup of a store written before keys had to be)
// go to the quarantine (see Quarantined) instead; other records that fail
// their check are dropped and counted. The feed reports the records that
// changed the store as SourceRestore, so replication spreads them.
func (s *Store) RestoreWith(r io.Reader, opts RestoreOptions) (RestoreResult, error) {
	const chunk = 1024
	var res RestoreResult
	sr := NewSnapshotReader(r)
	batch := make([]Checked, 0, chunk)
	var invalid []Record
	flush := func() error {
		changed, err := s.merge(batch, SourceRestore)
		res.Changed += len(changed)
		batch = batch[:0]
		if err != nil {
			return err
		}
		if err := s.Quarantine(invalid); err != nil {
			return err
		}
		for i := range invalid {
			res.Quarantined = append(res.Quarantined, invalid[i].Key)
		}
		invalid = invalid[:0]
		return nil
	}
	limit := func() uint64 { return s.clock.Wall().Millis() + uint64(opts.MaxAhead.Milliseconds()) }
	for {
		rec, err := sr.Next()
		if err == io.EOF {
			if err := flush(); err != nil {
				return res, err
			}
			return res, s.flushBulk()
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				return res, ferr
			}
			return res, err
		}
		c, err := CheckRecord(rec)
		switch {
		case errors.Is(err, ErrKeyNotUTF8) && rec.Table == TableKV:
			invalid = append(invalid, rec)
		case err != nil:
			res.Malformed++
		case opts.MaxAhead > 0 && rec.Version.Millis() > limit():
			res.Rejected++
		default:
			batch = append(batch, c)
		}
		if len(batch)+len(invalid) == chunk {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
}
