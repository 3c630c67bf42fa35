package store

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors callers may branch on.
var (
	// ErrInUse reports that another process holds the data file's lock.
	ErrInUse = errors.New("data dir in use by another agent")
	// ErrClosed reports an operation on a closed store.
	ErrClosed = errors.New("store: closed")
	// ErrInvalidKey reports an empty key, one longer than MaxKeyLen or
	// one that is not valid UTF-8 (ErrKeyNotUTF8).
	ErrInvalidKey = errors.New("store: invalid key")
	// ErrValueTooLarge reports a value longer than MaxValueLen.
	ErrValueTooLarge = errors.New("store: value too large")
)

// FileName is the name of the database file inside the data directory.
const FileName = "edgeplane.db"

// fileGrowth is how much the data file grows by once past it.
const fileGrowth = 256 << 10

var (
	bucketKV   = []byte("kv")
	bucketMeta = []byte("meta")

	metaIndex     = []byte("index")      // last local modify index
	metaHLC       = []byte("hlc")        // clock high-water mark
	metaReapIndex = []byte("reap_index") // largest index of a collected tombstone
	metaNodeID    = []byte("node_id")
)

// WallClock is where a store reads wall time. It is the reading half of
// the clock every edgeplane component is given (resilience.Clock, which
// also sleeps); the store only reads, and a library of its own, it
// declares the half it needs.
type WallClock interface {
	Now() time.Time
}

// SystemWall reads time.Now.
type SystemWall struct{}

// Now returns time.Now().
func (SystemWall) Now() time.Time { return time.Now() }

// Options tune a store. The zero value is usable: see DefaultOptions.
type Options struct {
	// Wall is the wall clock the hybrid logical clock reads. Default
	// SystemWall.
	Wall WallClock
	// ClockFloor is the earliest time the clock ever reads: the agent passes
	// its build time, so a device whose clock reads 1970 at boot still
	// stamps after every release. Default: the zero time (no floor).
	ClockFloor time.Time
	// LockTimeout bounds the wait for the data file's lock. Default 1s;
	// past it Open fails with ErrInUse instead of hanging.
	LockTimeout time.Duration
	// HistoryVersions is how many versions of each kv key the store keeps
	// in its history (see History). Default 0: no history (the agent's
	// default is 10).
	HistoryVersions int
	// HistoryMaxBytes caps the history's size; a write that takes it
	// past the cap drops the oldest versions of any key until it is an
	// eighth under. Default (0) DefaultHistoryMaxBytes.
	HistoryMaxBytes int64
	// NoSync skips fsync on commit. Only for tests and simulations: an
	// acknowledged write may be lost on power failure.
	NoSync bool
}

// DefaultOptions are the options Open uses for zero fields.
var DefaultOptions = Options{Wall: SystemWall{}, LockTimeout: time.Second}

// Store is the node's local replica: records in a bbolt file, a hybrid
// logical clock, a local modify index, the watches waiting on it and the
// feed of committed changes. All methods are safe for concurrent use.
type Store struct {
	// db is read under dbMu by readers, and by writers holding the
	// commit slot; Compact replaces it holding both (see compact.go).
	db     *bolt.DB
	dbMu   sync.RWMutex
	path   string
	bopts  *bolt.Options
	clock  *Clock
	nodeID string
	watch  watchSet
	feed   feed
	tables []*table // kv first, then the declared tables by name
	hist   historyLimits
	// histBytes is the history's size, counted at open and kept by each
	// commit (history.go).
	histBytes atomic.Int64
	// histSwept: versions stamped at or before it may have been dropped
	// by a sweep of the history past its cap.
	histSwept atomic.Uint64

	index     atomic.Uint64 // last committed local index
	reapIndex atomic.Uint64
	marks     marks
	dig       digest
	pend      pendingKeys
	orig      originTable
	// quarantinedAtOpen counts the records Open moved to the quarantine.
	quarantinedAtOpen int
	// recordsRead counts records read for anti-entropy (Records).
	recordsRead atomic.Uint64
	// committed counts write transactions committed (the benchmarks
	// report fsyncs from it).
	committed atomic.Uint64
	// commits times the commits of writes; writeErrors counts those that
	// failed in bbolt's write or sync (Stats).
	commits     latency
	writeErrors atomic.Uint64

	// Group commit: writers queue their operation, and whichever holds
	// the commit slot commits everything queued in one fsynced
	// transaction and wakes each writer of the group by its op's channel.
	pendMu  sync.Mutex
	pending []*op
	arrived chan struct{} // cap 1: an op was queued
	slot    chan struct{} // cap 1: sent to by the writer committing
	writers atomic.Int64  // write calls in progress
	// Held with the slot: the write calls in progress when the last
	// commit ended, and how long it took (see gather).
	lastWriters int
	lastCommit  time.Duration
	closed      atomic.Bool
}

// Open opens or creates the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Wall == nil {
		opts.Wall = DefaultOptions.Wall
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultOptions.LockTimeout
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	bopts := &bolt.Options{
		Timeout: opts.LockTimeout,
		// The freelist is rebuilt at open instead of written on every
		// commit: fewer writes to SD cards, a slightly slower start.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		NoSync:         opts.NoSync,
	}
	db, err := openBolt(path, bopts)
	if err != nil {
		return nil, err
	}
	// A compaction cut short by a crash left its copy (see compact.go).
	if err := os.Remove(path + compactSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		db.Close()
		return nil, fmt.Errorf("store: remove an unfinished compaction: %w", err)
	}
	s := &Store{db: db, path: path, bopts: bopts, tables: tables(), hist: newHistoryLimits(opts), arrived: make(chan struct{}, 1), slot: make(chan struct{}, 1)}
	if err := s.load(opts); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// openBolt opens the data file at path.
func openBolt(path string, opts *bolt.Options) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, opts)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is locked", ErrInUse, path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// bbolt grows the file 16 MiB at a time past 16 MiB, the size of the
	// whole store of many devices: 256 KiB steps keep the file near its
	// data, at the cost of a truncate and sync per step of growth.
	db.AllocSize = fileGrowth
	return db, nil
}

// load creates the buckets, reads the meta values and resumes the clock
// from max(high-water mark, largest stamp stored, wall clock).
func (s *Store) load(opts Options) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, tb := range s.tables {
			if _, err := tx.CreateBucketIfNotExists(tb.records); err != nil {
				return err
			}
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		id := meta.Get(metaNodeID)
		if id == nil {
			id = []byte(newUUID())
			if err := meta.Put(metaNodeID, id); err != nil {
				return err
			}
		}
		s.nodeID = string(id)
		if err := s.orig.load(tx); err != nil {
			return fmt.Errorf("store: load origins: %w", err)
		}
		if s.quarantinedAtOpen, err = s.quarantineInvalid(tx); err != nil {
			return fmt.Errorf("store: quarantine: %w", err)
		}
		s.index.Store(getUint(meta, metaIndex))
		s.reapIndex.Store(getUint(meta, metaReapIndex))
		s.marks.load(meta)
		hwm := Stamp(getUint(meta, metaHLC))
		for _, tb := range s.tables {
			err = forEachRecord(tx.Bucket(tb.records), func(k, v []byte) error {
				e, err := s.orig.decodeEntry(string(k), v)
				if err != nil {
					return err
				}
				hwm = max(hwm, e.Version)
				return nil
			})
			if err != nil {
				return fmt.Errorf("store: load %s: %w", TableName(tb.name), err)
			}
		}
		if err := s.loadHistory(tx); err != nil {
			return fmt.Errorf("store: load history: %w", err)
		}
		if err := s.loadDigest(tx); err != nil {
			return fmt.Errorf("store: load digest: %w", err)
		}
		s.clock = NewClock(opts.Wall.Now, opts.ClockFloor, hwm)
		return putUint(meta, metaHLC, uint64(s.clock.Peek()))
	})
}

// Close waits for the commit in progress and closes the file.
func (s *Store) Close() error {
	s.slot <- struct{}{}
	defer func() { <-s.slot }()
	if s.closed.Swap(true) {
		return nil
	}
	s.watch.closeAll()
	s.feed.closeAll()
	// A crash would lose nothing either: Open indexes the records again.
	ferr := s.flushPending()
	return errors.Join(ferr, s.db.Close())
}

// NodeID returns the id this store stamps on local writes: a UUID made at
// the first open and kept in the file.
func (s *Store) NodeID() string { return s.nodeID }

// Clock returns the store's hybrid logical clock.
func (s *Store) Clock() *Clock { return s.clock }

// Index returns the last local modify index, at least 1.
func (s *Store) Index() uint64 { return max(s.index.Load(), 1) }

// op is one write inside a group commit. It must be idempotent: when a
// group fails, each op is run again alone in a transaction of its own.
type op struct {
	fn   func(t *txn) error
	err  error
	done chan struct{} // closed once err is final
}

// txn is the write transaction an op runs in.
type txn struct {
	s       *Store
	tx      *bolt.Tx
	meta    *bolt.Bucket
	tbs     []*tableTx // by table id, opened on first use
	modify  uint64     // last local modify index allocated
	reap    uint64
	dirty   bool     // something was written: the transaction must commit
	changed []string // kv keys changed: the watches to wake
	feed    []Change // changes for the feed, in commit order
	lost    []Record // received records history newly marks lost (history.go)
	// histBytes is what the transaction changes the history's size by.
	histBytes int64
	deltas    map[int]uint64
	keys      map[keyRef]keyVal // index entries written (see keyindex.go)
	// flushAll: write every pending index entry; flushed: they were.
	flushAll, flushed bool
	// bulk: a bulk load (see keyindex.go) wrote in t.
	bulk bool

	// writing is when bbolt's commit began: what fails from then is its
	// write or sync.
	writing time.Time
}

// tableTx is a table's buckets within a transaction.
type tableTx struct {
	tb            *table
	records, keys *bolt.Bucket
	orig          *originTable
	// inserted: a key went elsewhere than past the table's last (see
	// fill).
	inserted bool
}

// fill sets how full bbolt fills the pages of tt's records before a put
// of key. bbolt splits a page in two halves by default, which leaves room
// for later keys between; keys written past the table's last one (a
// bootstrap, a restore, keys written in order) never come back to the
// pages they fill, and half of each would stay empty. While a transaction
// only appends to a table, its pages are filled whole.
func (tt *tableTx) fill(key string) {
	if tt.inserted {
		return
	}
	if last, _ := tt.records.Cursor().Last(); last != nil && key <= string(last) {
		tt.inserted = true
		tt.records.FillPercent = bolt.DefaultFillPercent
		return
	}
	tt.records.FillPercent = 1
}

// table returns tb's buckets in t.
func (t *txn) table(tb *table) *tableTx {
	if t.tbs == nil {
		t.tbs = make([]*tableTx, len(t.s.tables))
	}
	if tt := t.tbs[tb.id]; tt != nil {
		return tt
	}
	tt := &tableTx{tb: tb, records: t.tx.Bucket(tb.records), keys: t.tx.Bucket(tb.keys), orig: &t.s.orig}
	t.tbs[tb.id] = tt
	return tt
}

// kv returns the kv table's buckets in t.
func (t *txn) kv() *tableTx { return t.table(t.s.tables[0]) }

func (tt *tableTx) get(key string) (Entry, bool, error) {
	v := tt.records.Get([]byte(key))
	if v == nil {
		return Entry{}, false, nil
	}
	e, err := tt.orig.decodeEntry(key, v)
	e.Table = tt.tb.name
	return e, err == nil, err
}

// put stores e in tt under the next local index, updates the digest and
// notes the change as coming from src.
func (t *txn) put(tt *tableTx, e *Entry, src Source) error {
	t.modify++
	e.ModifyIndex = t.modify
	if e.CreateIndex == 0 {
		e.CreateIndex = t.modify
	}
	e.Table = tt.tb.name
	if e.Table == TableKV {
		t.changed = append(t.changed, e.Key)
	}
	t.note(e.Record, e.ModifyIndex, src)
	t.dirty = true
	v, err := t.appendStored(e)
	if err != nil {
		return err
	}
	tt.fill(e.Key)
	if err := tt.records.Put([]byte(e.Key), v); err != nil {
		return err
	}
	return t.indexRecord(tt, &e.Record)
}

// note queues a change for the feed, if anyone reads it.
func (t *txn) note(r Record, index uint64, src Source) {
	if t.s.feed.active() {
		t.feed = append(t.feed, Change{Record: r, Index: index, Source: src})
	}
}

// write runs fn inside a group commit and returns once its transaction is
// fsynced (or failed).
func (s *Store) write(fn func(t *txn) error) error {
	o := &op{fn: fn, done: make(chan struct{})}
	s.writers.Add(1)
	defer s.writers.Add(-1)
	s.pendMu.Lock()
	s.pending = append(s.pending, o)
	s.pendMu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}

	select {
	case <-o.done: // committed by another writer's group
		return o.err
	case s.slot <- struct{}{}:
	}
	defer func() { <-s.slot }()
	select {
	case <-o.done:
		return o.err
	default: // o is still queued: this writer commits it
	}
	group := s.gather()
	defer func() {
		for _, g := range group {
			close(g.done)
		}
	}()
	if s.closed.Load() {
		for _, g := range group {
			g.err = ErrClosed
		}
		return ErrClosed
	}
	start := time.Now()
	if err := s.commit(group); err != nil && len(group) > 1 {
		for _, g := range group {
			_ = s.commit([]*op{g})
		}
	}
	s.lastCommit = time.Since(start)
	s.lastWriters = int(s.writers.Load())
	return o.err
}

// gather takes the queued ops, the caller's among them. When the last
// commit ended with more write calls in progress than are queued now, the
// writers it woke are likely to queue again at once: gather waits for
// them, up to that many ops and at most a quarter of the last commit's
// duration, so that a steady set of concurrent writers shares each fsync
// instead of alternating between two half groups. A lone writer never
// waits: the last commit ended with its call alone in progress.
func (s *Store) gather() []*op {
	wait := s.lastCommit / 4
	var timeout <-chan time.Time
	for {
		s.pendMu.Lock()
		if len(s.pending) >= s.lastWriters || wait <= 0 {
			group := s.pending
			s.pending = nil
			s.pendMu.Unlock()
			return group
		}
		s.pendMu.Unlock()
		if timeout == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-s.arrived:
		case <-timeout:
			wait = 0 // take what is queued
		}
	}
}

// commit runs ops in one transaction; on success it publishes the new
// index, the digest and the changes, and wakes the watches of the changed
// keys.
func (s *Store) commit(ops []*op) error {
	var t *txn
	err := s.db.Update(func(tx *bolt.Tx) error {
		t = &txn{s: s, tx: tx, meta: tx.Bucket(bucketMeta),
			// Indexes start at 2: an empty store reports 1, which the
			// first write must pass.
			modify: max(s.index.Load(), 1), reap: s.reapIndex.Load()}
		for _, o := range ops {
			if err := o.fn(t); err != nil {
				return err
			}
		}
		var err error
		if t.flushed, err = t.flushKeys(t.flushAll); err != nil {
			return err
		}
		if !t.dirty {
			// Nothing to write (a duplicate record, a lower mark): roll
			// back rather than commit, which would still write and sync
			// the meta page.
			return errNothingWritten
		}
		// The clock's high-water mark goes in the same transaction as the
		// writes it stamped, so a restart never reuses a stamp.
		if err := putUint(t.meta, metaHLC, uint64(s.clock.Peek())); err != nil {
			return err
		}
		if err := putUint(t.meta, metaReapIndex, t.reap); err != nil {
			return err
		}
		t.writing = time.Now()
		return putUint(t.meta, metaIndex, t.modify)
	})
	s.orig.settle(err == nil)
	switch {
	case err == errNothingWritten:
		err = nil
	case err == nil:
		s.commits.observe(time.Since(t.writing))
	case t != nil && !t.writing.IsZero():
		s.writeErrors.Add(1)
	}
	for _, o := range ops {
		o.err = err
	}
	if err != nil {
		return err
	}
	s.committed.Add(1)
	s.index.Store(t.modify)
	s.reapIndex.Store(t.reap)
	s.histBytes.Add(t.histBytes)
	s.publishDigest(t.deltas)
	s.publishKeys(t.keys, t.flushed, t.bulk)
	s.feed.publish(t.feed)
	s.watch.notify(t.changed)
	return nil
}

var errNothingWritten = errors.New("store: nothing written")

// putMeta writes a meta value within a transaction.
func (t *txn) putMeta(k []byte, v uint64) error {
	t.dirty = true
	return putUint(t.meta, k, v)
}

func getUint(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putUint(b *bolt.Bucket, k []byte, v uint64) error {
	return b.Put(k, binary.BigEndian.AppendUint64(nil, v))
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func checkKV(key string, value []byte) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if len(value) > MaxValueLen {
		return fmt.Errorf("%w: %d bytes (max %d)", ErrValueTooLarge, len(value), MaxValueLen)
	}
	return nil
}
