package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Compaction. bbolt never shrinks its file: pages freed by overwrites,
// deletes and collected tombstones are reused, not returned, and pages
// split by writes in random key order stay half full. Compact copies the
// records into a new file, every page filled, and puts it in the old
// one's place while the store stays open:
//
//  1. It takes the commit slot, so no write commits until it is done
//     (writes wait; reads go on, from the old file), and writes the
//     pending index entries.
//  2. It copies every bucket into FileName+".compact", fsynced.
//  3. It waits for the reads in progress to end, closes the old file,
//     renames the copy over it, fsyncs the directory and opens it.
//
// A crash before the rename leaves the old file whole and the copy,
// which Open removes; a crash after it leaves the copy, whole and
// fsynced, under the file's name. The in-memory state (clock, indexes,
// digest, origins) is the same for both files.

const compactSuffix = ".compact"

// compactTxSize bounds the bytes each transaction of the copy writes.
const compactTxSize = 4 << 20

// CompactResult says what a compaction did.
type CompactResult struct {
	Before, After int64 // sizes of the data file, in bytes
}

// ErrCompactAborted reports a compaction given up after its copy, before
// the swap, because its context ended: the store keeps its file.
var ErrCompactAborted = errors.New("store: compaction aborted")

// compactFault, set by tests, is called at each step of a compaction
// ("copied": before the rename; "renamed": after it, before the open); an
// error stops the compaction there, as a crash would.
var compactFault func(step string) error

// Compact rewrites the data file without its free pages and with full
// pages, while the store stays open (see the notes above). Writes wait
// for it; a store of 100,000 keys takes about a second. It returns the
// file's size before and after.
func (s *Store) Compact(ctx context.Context) (CompactResult, error) {
	select {
	case s.slot <- struct{}{}:
	case <-ctx.Done():
		return CompactResult{}, ctx.Err()
	}
	defer func() { <-s.slot }()
	if s.closed.Load() {
		return CompactResult{}, ErrClosed
	}
	var res CompactResult
	if err := s.flushPending(); err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	res.Before = fi.Size()
	tmp := s.path + compactSuffix
	if err := s.copyCompacted(tmp); err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("store: compact: %w", err)
	}
	if err := ctx.Err(); err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("%w: %w", ErrCompactAborted, err)
	}
	if err := fault("copied"); err != nil {
		return res, err
	}

	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if err := s.db.Close(); err != nil {
		// The old file stays open in bbolt's eyes no more: reopen it.
		os.Remove(tmp)
		return res, s.reopen(fmt.Errorf("store: compact: close: %w", err))
	}
	if err := os.Rename(tmp, s.path); err != nil {
		os.Remove(tmp)
		return res, s.reopen(fmt.Errorf("store: compact: %w", err))
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return res, s.reopen(fmt.Errorf("store: compact: %w", err))
	}
	if err := fault("renamed"); err != nil {
		return res, s.reopen(err)
	}
	if err := s.reopen(nil); err != nil {
		return res, err
	}
	if fi, err := os.Stat(s.path); err == nil {
		res.After = fi.Size()
	}
	return res, nil
}

// copyCompacted copies the store's file into a new one at path, fsynced.
func (s *Store) copyCompacted(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	dst, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: s.bopts.Timeout, NoSync: true,
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return err
	}
	dst.AllocSize = fileGrowth
	if err := bolt.Compact(dst, s.db, compactTxSize); err != nil {
		dst.Close()
		return err
	}
	err = dst.Sync()
	return errors.Join(err, dst.Close())
}

// reopen opens the data file again after Compact closed it, and returns
// cause. If the file does not open, the store is closed: every call fails
// with ErrClosed, and the error says why.
func (s *Store) reopen(cause error) error {
	db, err := openBolt(s.path, s.bopts)
	if err != nil {
		s.closed.Store(true)
		s.watch.closeAll()
		s.feed.closeAll()
		return errors.Join(cause, fmt.Errorf("store: compact: the data file does not open again; the store is closed: %w", err))
	}
	s.db = db
	return cause
}

func fault(step string) error {
	if compactFault != nil {
		return compactFault(step)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}
