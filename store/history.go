package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// History. With Options.HistoryVersions > 0 a store keeps, beside its kv
// records, the versions of each kv key it has held: value,
// flags, stamp, origin, whether it was a delete, and whether it was lost.
// A version is recorded by the transaction that writes or merges the
// record, so history costs no fsync of its own. It keeps at most
// HistoryVersions versions of a key and HistoryMaxBytes in all, dropping
// the oldest first. Keys containing U+0000 have no history. Every kv key
// has one otherwise, the schemas under _schema/ included: a schema is
// configuration too, and is rolled back like any key.
//
// # Lost versions
//
// Every record carries Prev, the stamp of the version its writer held for
// the key when it wrote it (0: none). A version V is lost when a version W
// beats it under last-writer-wins although W's writer had not seen V:
//
//	lost(V, W) = W beats V and W.Prev < V.Version
//
// A node decides it where the two meet: when W replaces V, which it held,
// or when V arrives after W and is rejected. A sequential overwrite, on
// one node or on another that had received V, has W.Prev >= V.Version:
// never lost. Two sides of a partition writing the same key, or two nodes
// racing, write without seeing each other's version: the older one is
// lost on every node that sees both, whichever order they arrive in, as
// the rule reads only the two records. One refinement keeps nodes that saw
// a side's intermediate versions in agreement: when a record arrives whose
// Prev is a version this node marked lost, that version is unmarked, as
// its own side's writer had seen it (a node may then list it, not held,
// where another does not list it at all; neither calls it lost).
//
// A node marks only versions it has seen: one that never received the
// losing write (the mesh converged on the winner before it reached it)
// lists nothing. Records from nodes older than Prev carry none, so each
// replacement they make of another origin's version reads as lost there.
// Prev is one stamp, not a vector clock: writes racing within a single
// stamp from two origins compare as seen.
//
// # Layout
//
// Versions of key K are stored in the kv bucket itself, beside K's
// record, under K 0xFF stamp(8, big-endian) origin. No key holds 0xFF
// (keys are valid UTF-8), so these never collide with a record, and the
// first 0xFF of a key ends the record's key. A key's versions are in
// stamp order, next to each other, and next to its record, or past the
// keys under K when K is their prefix: a write adds its version and drops
// its key's oldest past HistoryVersions in the leaf its record is
// written to, most often, so bbolt, which writes whole every page a
// commit touches, writes for history only a second leaf when a key's
// versions straddle two, and the one more level of the kv tree the
// history's bytes may add (a separate tree costs its own leaf and
// branches on every write). Every walk of the records passes over the
// versions (recordCursor, forEachRecord), and the quarantine keeps them.
// The byte count is kept in memory, counted by one scan at open; when a
// write takes it past HistoryMaxBytes, a sweep drops the oldest versions
// of any key until the history is an eighth under the cap, so that
// sweeps are rare.
//
// Files written before kept the versions in the local bucket "history",
// under K 0x00 stamp origin, and earlier ones an age index (0x00 'a'
// stamp key) and a byte count (0x00 'n') in it: Open moves the versions
// to the kv bucket and deletes the bucket (migrateHistory).
const historyBucket = "history"

// histSep ends the key of a record in the key of one of its versions.
const histSep byte = 0xFF

// validHistoryKey reports whether k and v, of the kv bucket, are a
// version's: a valid key, the separator, and a version's format.
func validHistoryKey(k, v []byte) bool {
	i := bytes.IndexByte(k, histSep)
	return i > 0 && utf8.Valid(k[:i]) && len(v) > 0 && v[0] == histFormat
}

// isHistoryKey reports whether k, a key of the kv bucket, is a version's
// and not a record's.
func isHistoryKey(k []byte) bool { return bytes.IndexByte(k, histSep) >= 0 }

// DefaultHistoryMaxBytes is the history's size cap when
// Options.HistoryMaxBytes is 0: 16 MiB.
const DefaultHistoryMaxBytes = 16 << 20

// historyLimits are the bounds of a store's history.
type historyLimits struct {
	versions int   // per key; 0: no history
	maxBytes int64 // in all
}

func newHistoryLimits(o Options) historyLimits {
	l := historyLimits{versions: max(o.HistoryVersions, 0), maxBytes: o.HistoryMaxBytes}
	if l.maxBytes <= 0 {
		l.maxBytes = DefaultHistoryMaxBytes
	}
	return l
}

// HistoryEntry is one version of a kv key in a node's history.
type HistoryEntry struct {
	Key     string
	Value   []byte
	Flags   uint64
	Version Stamp
	Origin  string
	Deleted bool
	// Prev is the stamp of the version the writer held (Record.Prev).
	Prev Stamp
	// Held: the version was the key's value on this node. A lost version
	// that arrived after the one that beat it was never held.
	Held bool
	// Lost: last-writer-wins discarded the version for a concurrent one
	// (see the package's history notes).
	Lost bool
	// RollbackOf and RollbackOrigin name the version this one restored,
	// when a rollback on this node wrote it (RollbackOf 0 otherwise).
	RollbackOf     Stamp
	RollbackOrigin string
}

// Size is the bytes the entry counts against the history's cap.
func (h *HistoryEntry) Size() int64 {
	return historySize(len(h.Key), len(h.Origin), len(h.Value), len(h.RollbackOrigin))
}

func historySize(key, origin, value, rollbackOrigin int) int64 {
	return int64(2*(key+origin) + value + rollbackOrigin + 64)
}

const (
	// histFormat starts a version's value: no record's format (1, 2), so
	// a version is never read as a record.
	histFormat byte = 0x81
	// legacyHistFormat started it in the history bucket.
	legacyHistFormat byte = 1

	histDeleted  byte = 1 << 0
	histLost     byte = 1 << 1
	histHeld     byte = 1 << 2
	histRollback byte = 1 << 3
	histBits          = histDeleted | histLost | histHeld | histRollback
)

// historyKey is the key of a version in the kv bucket.
func historyKey(key string, v Stamp, origin string) []byte {
	b := make([]byte, 0, len(key)+9+len(origin))
	b = append(b, key...)
	b = append(b, histSep)
	b = binary.BigEndian.AppendUint64(b, uint64(v))
	return append(b, origin...)
}

// appendHistory encodes h without its key, stamp and origin (they are the
// bbolt key):
//
//	format(1) bits(1) flags prev (uvarints) [rollbackOf len(origin) origin]
//	len(value) value
func appendHistory(dst []byte, h *HistoryEntry) []byte {
	var bits byte
	if h.Deleted {
		bits |= histDeleted
	}
	if h.Lost {
		bits |= histLost
	}
	if h.Held {
		bits |= histHeld
	}
	if h.RollbackOf != 0 {
		bits |= histRollback
	}
	dst = append(dst, histFormat, bits)
	dst = binary.AppendUvarint(dst, h.Flags)
	dst = binary.AppendUvarint(dst, uint64(h.Prev))
	if h.RollbackOf != 0 {
		dst = binary.AppendUvarint(dst, uint64(h.RollbackOf))
		dst = binary.AppendUvarint(dst, uint64(len(h.RollbackOrigin)))
		dst = append(dst, h.RollbackOrigin...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(h.Value)))
	return append(dst, h.Value...)
}

// historyView is a history entry decoded in place: its slices point into
// the bucket's key and value, valid only while they are.
type historyView struct {
	key, origin, value, rollbackOrigin []byte
	version, prev, rollbackOf          Stamp
	flags                              uint64
	bits                               byte
}

// viewHistory decodes a version's key and value in place.
func viewHistory(k, v []byte) (historyView, error) {
	i := bytes.IndexByte(k, histSep)
	if i <= 0 || len(k) < i+9 {
		return historyView{}, fmt.Errorf("%w: history key %q", ErrCorrupt, k)
	}
	h := historyView{key: k[:i], version: Stamp(binary.BigEndian.Uint64(k[i+1:])), origin: k[i+9:]}
	d := decoder{b: v}
	if f := d.byte(); f != histFormat {
		return historyView{}, fmt.Errorf("%w: history of %q: unknown format %d", ErrCorrupt, h.key, f)
	}
	h.bits = d.byte()
	h.flags = d.uvarint()
	h.prev = Stamp(d.uvarint())
	if h.bits&histRollback != 0 {
		h.rollbackOf = Stamp(d.uvarint())
		h.rollbackOrigin = d.bytes(maxOriginLen)
		if h.rollbackOf == 0 {
			d.fail()
		}
	}
	h.value = d.bytes(MaxValueLen)
	if d.err != nil || h.bits&^histBits != 0 || len(d.b) != 0 {
		return historyView{}, fmt.Errorf("%w: history of %q", ErrCorrupt, h.key)
	}
	return h, nil
}

func (h *historyView) size() int64 {
	return historySize(len(h.key), len(h.origin), len(h.value), len(h.rollbackOrigin))
}

// decodeHistory decodes a version's key and value. The result
// holds copies: it stays valid after the transaction ends.
func decodeHistory(k, v []byte) (HistoryEntry, error) {
	hv, err := viewHistory(k, v)
	if err != nil {
		return HistoryEntry{}, err
	}
	h := HistoryEntry{Key: string(hv.key), Flags: hv.flags, Version: hv.version, Origin: string(hv.origin),
		Deleted: hv.bits&histDeleted != 0, Lost: hv.bits&histLost != 0, Held: hv.bits&histHeld != 0,
		Prev: hv.prev, RollbackOf: hv.rollbackOf, RollbackOrigin: string(hv.rollbackOrigin)}
	if len(hv.value) > 0 {
		h.Value = bytes.Clone(hv.value)
	}
	return h, nil
}

func historyOf(r *Record) HistoryEntry {
	return HistoryEntry{Key: r.Key, Value: r.Value, Flags: r.Flags, Version: r.Version, Origin: r.Origin,
		Deleted: r.Deleted, Prev: r.Prev}
}

// prevOf returns the Prev of a local write to tt replacing old: kv
// records carry the version they replace.
func prevOf(tt *tableTx, old Entry, found bool) Stamp {
	if !found || tt.tb.name != TableKV {
		return 0
	}
	return old.Version
}

// history returns the bucket that keeps key's versions in t (the kv
// bucket), or nil when key has none.
func (t *txn) history(tt *tableTx, key string) (*bolt.Bucket, error) {
	if t.s.hist.versions == 0 || tt.tb.name != TableKV || strings.IndexByte(key, 0) >= 0 {
		return nil, nil
	}
	t.dirty = true
	return tt.records, nil
}

// historyReplaced records e, which replaced old (found: the store held
// it) in tt, and marks old lost if e's writer had not seen it. A key's
// first version here is not copied: its record holds it, and the history
// lists it from there (scanHistory) until a later version replaces it,
// which copies it then. So a bootstrap, whose keys are all new, writes no
// history.
func (t *txn) historyReplaced(tt *tableTx, old *Entry, found bool, e *Entry) error {
	b, err := t.history(tt, e.Key)
	if b == nil || err != nil {
		return err
	}
	if found {
		h := historyOf(&old.Record)
		h.Held = true
		if e.Prev < old.Version {
			h.Lost = true
			marked, err := t.histMark(b, &h)
			if err != nil {
				return err
			}
			if marked {
				t.lost = append(t.lost, old.Record)
			}
		} else if uint64(h.Version) > t.s.histSwept.Load() && b.Get(historyKey(h.Key, h.Version, h.Origin)) == nil {
			// The key's first version (one a sweep dropped stays dropped).
			if err := t.histAdd(b, &h); err != nil {
				return err
			}
		}
	}
	if err := t.histSeen(b, e.Key, e.Prev); err != nil {
		return err
	}
	if !found {
		return t.histCap(b) // a cap lowered since the last write holds from now
	}
	h := historyOf(&e.Record)
	h.Held = true
	return t.histAdd(b, &h)
}

// historyRejected records rec, which arrived after held and lost to it,
// when held's writer had not seen it.
func (t *txn) historyRejected(tt *tableTx, held *Entry, rec *Record) error {
	if held.Prev >= rec.Version || Compare(&held.Record, rec) == 0 {
		return nil
	}
	b, err := t.history(tt, rec.Key)
	if b == nil || err != nil {
		return err
	}
	if b.Get(historyKey(rec.Key, rec.Version, rec.Origin)) != nil {
		return nil
	}
	h := historyOf(rec)
	h.Lost = true
	t.lost = append(t.lost, *rec)
	return t.histAdd(b, &h)
}

// histMark marks h's version lost, adding it if the history lacks it,
// and reports whether it was not marked before.
func (t *txn) histMark(b *bolt.Bucket, h *HistoryEntry) (bool, error) {
	k := historyKey(h.Key, h.Version, h.Origin)
	v := b.Get(k)
	if v == nil {
		return true, t.histAdd(b, h)
	}
	old, err := decodeHistory(k, v)
	if err != nil || old.Lost {
		return false, err
	}
	old.Lost = true
	return true, b.Put(k, appendHistory(nil, &old)) // same size: one bit
}

// histSeen unmarks the lost versions of key stamped prev: a writer held
// them when it wrote a later version.
func (t *txn) histSeen(b *bolt.Bucket, key string, prev Stamp) error {
	if prev == 0 {
		return nil
	}
	p := historyKey(key, prev, "")
	var seen []HistoryEntry
	c := b.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		h, err := decodeHistory(k, v)
		if err != nil {
			return err
		}
		if h.Lost {
			seen = append(seen, h)
		}
	}
	for i := range seen {
		seen[i].Lost = false
		if err := b.Put(historyKey(key, prev, seen[i].Origin), appendHistory(nil, &seen[i])); err != nil {
			return err
		}
	}
	return nil
}

// histAdd stores h, then drops the oldest versions past the limits.
func (t *txn) histAdd(b *bolt.Bucket, h *HistoryEntry) error {
	k := historyKey(h.Key, h.Version, h.Origin)
	if v := b.Get(k); v != nil {
		// Rewritten in place (a rollback's mark).
		n, err := histSize(k, v)
		if err != nil {
			return err
		}
		t.histBytes += h.Size() - n
		if err := b.Put(k, appendHistory(nil, h)); err != nil {
			return err
		}
		return t.histCap(b)
	}
	if err := b.Put(k, appendHistory(nil, h)); err != nil {
		return err
	}
	t.histBytes += h.Size()
	// Past the per-key count: the key's oldest versions go.
	prefix := k[:len(h.Key)+1]
	var keys [][]byte
	c := b.Cursor()
	for kk, _ := c.Seek(prefix); kk != nil && bytes.HasPrefix(kk, prefix); kk, _ = c.Next() {
		keys = append(keys, bytes.Clone(kk))
	}
	for _, kk := range keys[:max(len(keys)-t.s.hist.versions, 0)] {
		n, err := histSize(kk, b.Get(kk))
		if err != nil {
			return err
		}
		if err := b.Delete(kk); err != nil {
			return err
		}
		t.histBytes -= n
	}
	return t.histCap(b)
}

// histCap sweeps the history when it is past its cap.
func (t *txn) histCap(b *bolt.Bucket) error {
	if t.s.histBytes.Load()+t.histBytes > t.s.hist.maxBytes {
		return t.histSweep(b)
	}
	return nil
}

// histSize returns the size the version under k counts against the cap.
func histSize(k, v []byte) (int64, error) {
	h, err := viewHistory(k, v)
	return h.size(), err
}

// histSweep drops the oldest versions of any key until the history is an
// eighth under its cap, and counts its size again.
func (t *txn) histSweep(b *bolt.Bucket) error {
	type version struct {
		stamp Stamp
		size  int64
	}
	var (
		vs    []version
		total int64
	)
	err := b.ForEach(func(k, v []byte) error {
		if !isHistoryKey(k) {
			return nil // a record
		}
		h, err := viewHistory(k, v)
		vs = append(vs, version{h.version, h.size()})
		total += h.size()
		return err
	})
	if err != nil {
		return err
	}
	slices.SortFunc(vs, func(a, b version) int { return cmp.Compare(a.stamp, b.stamp) })
	goal := t.s.hist.maxBytes - t.s.hist.maxBytes/8
	var cut Stamp // versions stamped at or before cut go
	for i := 0; i < len(vs) && total > goal; i++ {
		cut = vs[i].stamp
		for ; i < len(vs) && vs[i].stamp == cut; i++ {
			total -= vs[i].size
		}
		i--
	}
	var drop [][]byte
	if len(vs) > 0 && vs[0].stamp <= cut {
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if i := bytes.IndexByte(k, histSep); i > 0 && len(k) >= i+9 && Stamp(binary.BigEndian.Uint64(k[i+1:])) <= cut {
				drop = append(drop, bytes.Clone(k))
			}
		}
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	t.histBytes = total - t.s.histBytes.Load()
	raise(&t.s.histSwept, uint64(cut))
	return nil
}

// loadHistory moves the versions of a file's old history bucket to the
// kv bucket and counts the history's size.
func (s *Store) loadHistory(tx *bolt.Tx) error {
	if err := migrateHistory(tx); err != nil {
		return err
	}
	if s.hist.versions == 0 {
		return nil
	}
	var (
		total  int64
		oldest Stamp
	)
	err := tx.Bucket(bucketKV).ForEach(func(k, v []byte) error {
		if !isHistoryKey(k) {
			return nil
		}
		h, err := viewHistory(k, v)
		if oldest == 0 || h.version < oldest {
			oldest = h.version
		}
		total += h.size()
		return err
	})
	if err != nil {
		return err
	}
	s.histBytes.Store(total)
	if total >= s.hist.maxBytes-s.hist.maxBytes/8 && oldest > 0 {
		// Swept before, maybe: what is older than the oldest kept may
		// have been dropped.
		s.histSwept.Store(uint64(oldest - 1))
	}
	return nil
}

// migrateHistory moves the versions of the local bucket "history", where
// files written before kept them under K 0x00 stamp origin, to the kv
// bucket, and deletes the bucket with what else it held (the age index
// and byte count of older files, under keys starting 0x00).
func migrateHistory(tx *bolt.Tx) error {
	old := tx.Bucket(localBucket(historyBucket))
	if old == nil {
		return nil
	}
	kv := tx.Bucket(bucketKV)
	err := old.ForEach(func(k, v []byte) error {
		if k[0] == 0 {
			return nil
		}
		i := bytes.IndexByte(k, 0)
		if i <= 0 || len(v) == 0 || v[0] != legacyHistFormat {
			return fmt.Errorf("%w: history key %q", ErrCorrupt, k)
		}
		nk := slices.Concat(k[:i], []byte{histSep}, k[i+1:])
		nv := slices.Concat([]byte{histFormat}, v[1:])
		if _, err := viewHistory(nk, nv); err != nil {
			return err
		}
		return kv.Put(nk, nv)
	})
	if err != nil {
		return err
	}
	return tx.DeleteBucket(localBucket(historyBucket))
}

// historyRollback marks e, just written, as the rollback of to.
func (t *txn) historyRollback(e *Entry, to *HistoryEntry) error {
	b, err := t.history(t.kv(), e.Key)
	if b == nil || err != nil {
		return err
	}
	h := historyOf(&e.Record)
	h.Held, h.RollbackOf, h.RollbackOrigin = true, to.Version, to.Origin
	return t.histAdd(b, &h)
}

// HistoryQuery selects versions from a node's history.
type HistoryQuery struct {
	Key      string
	Prefix   bool  // every key under Key
	Since    Stamp // only versions stamped at or after Since
	LostOnly bool  // only lost versions
	// Limit caps how many versions are returned, the newest kept; 0
	// returns all.
	Limit int
}

// History returns the versions of the history that q selects, newest
// first (ties in key order). It returns none when the store keeps no
// history.
func (s *Store) History(q HistoryQuery) ([]HistoryEntry, error) {
	var out []HistoryEntry
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		out, err = s.scanHistory(tx, q)
		return err
	})
	return out, err
}

// HistoryBytes returns the size the history counts against its cap (0
// when the store keeps no history).
func (s *Store) HistoryBytes() (int64, error) { return s.histBytes.Load(), nil }

// HistoryVersions returns how many versions of a key the store keeps: 0
// when it keeps no history.
func (s *Store) HistoryVersions() int { return s.hist.versions }

func (s *Store) scanHistory(tx *bolt.Tx, q HistoryQuery) ([]HistoryEntry, error) {
	if q.Key == "" && !q.Prefix {
		return nil, nil
	}
	// A key's first version is in its record only: the records q selects
	// add the versions they hold that the history lacks.
	var held []HistoryEntry
	rec := func(k, v []byte) error {
		if s.hist.versions == 0 || q.LostOnly || bytes.IndexByte(k, 0) >= 0 {
			return nil // no history, or a record holds the winning version
		}
		e, err := s.orig.decodeEntry(string(k), v)
		if err != nil || e.Version < q.Since {
			return err
		}
		h := historyOf(&e.Record)
		h.Held = true
		held = append(held, h)
		return nil
	}
	out, err := scanHistoryVersions(tx.Bucket(bucketKV), q, rec)
	if err != nil {
		return nil, err
	}
	type version struct {
		key    string
		v      Stamp
		origin string
	}
	listed := make(map[version]bool, len(out))
	for i := range out {
		listed[version{out[i].Key, out[i].Version, out[i].Origin}] = true
	}
	for _, h := range held {
		if !listed[version{h.Key, h.Version, h.Origin}] {
			out = append(out, h)
		}
	}
	slices.SortStableFunc(out, func(a, b HistoryEntry) int { return cmp.Compare(b.Version, a.Version) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// scanHistoryVersions returns the versions q selects from the kv bucket,
// unsorted, and calls rec, unless nil, with each record q's key or prefix
// covers.
func scanHistoryVersions(kv *bolt.Bucket, q HistoryQuery, rec func(k, v []byte) error) ([]HistoryEntry, error) {
	p := []byte(q.Key)
	if !q.Prefix {
		if v := kv.Get(p); v != nil && rec != nil {
			if err := rec(p, v); err != nil {
				return nil, err
			}
		}
		p = append(p, histSep)
	}
	var out []HistoryEntry
	c := kv.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if !isHistoryKey(k) {
			if rec != nil {
				if err := rec(k, v); err != nil {
					return nil, err
				}
			}
			continue
		}
		h, err := decodeHistory(k, v)
		if err != nil {
			return nil, err
		}
		if h.Version < q.Since || q.LostOnly && !h.Lost {
			continue
		}
		out = append(out, h)
	}
	return out, nil
}

// recordCursor walks a table's records as a bbolt cursor does, passing
// over the history versions kept among the kv records.
type recordCursor struct{ c *bolt.Cursor }

func records(b *bolt.Bucket) recordCursor { return recordCursor{b.Cursor()} }

func (r recordCursor) First() ([]byte, []byte)        { return r.skip(r.c.First()) }
func (r recordCursor) Seek(k []byte) ([]byte, []byte) { return r.skip(r.c.Seek(k)) }
func (r recordCursor) Next() ([]byte, []byte)         { return r.skip(r.c.Next()) }

func (r recordCursor) skip(k, v []byte) ([]byte, []byte) {
	for k != nil && isHistoryKey(k) {
		k, v = r.c.Next()
	}
	return k, v
}

// forEachRecord calls fn with each record of b, passing over the history
// versions kept among the kv records.
func forEachRecord(b *bolt.Bucket, fn func(k, v []byte) error) error {
	return b.ForEach(func(k, v []byte) error {
		if isHistoryKey(k) {
			return nil
		}
		return fn(k, v)
	})
}
