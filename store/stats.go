package store

import (
	"sync/atomic"
	"time"
)

// CommitBounds are the upper bounds of the buckets of Stats.Commits; a
// last, unbounded bucket holds slower commits.
var CommitBounds = []time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// latency is a histogram of durations over CommitBounds, in atomics: one
// observation is a few of them, with no lock.
type latency struct {
	counts [14]atomic.Uint64 // len(CommitBounds)+1
	sumNs  atomic.Int64
}

func (l *latency) observe(d time.Duration) {
	i := 0
	for i < len(CommitBounds) && d > CommitBounds[i] {
		i++
	}
	l.counts[i].Add(1)
	l.sumNs.Add(int64(d))
}

func (l *latency) snapshot() Histogram {
	h := Histogram{Bounds: CommitBounds, Counts: make([]uint64, len(l.counts)), Sum: time.Duration(l.sumNs.Load())}
	for i := range l.counts {
		h.Counts[i] = l.counts[i].Load()
		h.Count += h.Counts[i]
	}
	return h
}

// Histogram counts durations in buckets bounded by Bounds; Counts has one
// more entry than Bounds, for durations above the last bound. Count is
// their total, Sum the durations added up.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// Stats are the store's figures since Open, read with Store.Stats.
type Stats struct {
	// Commits times the durable commits of writes (each a group of
	// writers) once their records are in place: bbolt writing the
	// transaction's pages and fsyncing the file, then its meta page and
	// fsyncing again. On a slow disk the fsyncs are most of it. Commits
	// that write nothing are not counted.
	Commits Histogram
	// WriteErrors counts commits that failed in writing or syncing the
	// file (a full disk, an I/O error): the writes in them were not
	// made. A write refused before that (a bad key, a failed check) is
	// not one.
	WriteErrors uint64
	// FreePages is the number of pages of the data file free for reuse,
	// those freed by transactions still open included.
	FreePages int
	// PageSize is the size of the data file's pages, in bytes.
	PageSize int
}

// Stats returns the store's figures.
func (s *Store) Stats() Stats {
	s.dbMu.RLock()
	db, info := s.db.Stats(), s.db.Info()
	s.dbMu.RUnlock()
	return Stats{Commits: s.commits.snapshot(), WriteErrors: s.writeErrors.Load(),
		FreePages: db.FreePageN + db.PendingPageN, PageSize: info.PageSize}
}
