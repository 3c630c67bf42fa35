package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestCheckKey(t *testing.T) {
	tests := []struct {
		key  string
		want error // nil, ErrInvalidKey or ErrKeyNotUTF8
	}{
		{"a", nil},
		{"config/ключ/😀", nil},
		{strings.Repeat("k", MaxKeyLen), nil},
		{"", ErrInvalidKey},
		{strings.Repeat("k", MaxKeyLen+1), ErrInvalidKey},
		{"poison/\xff\xfe", ErrKeyNotUTF8},
		{"\xc3", ErrKeyNotUTF8},             // cut in a character
		{"\xed\xa0\x80", ErrKeyNotUTF8},     // a surrogate
		{"a\xc0\x80", ErrKeyNotUTF8},        // overlong NUL
		{"\xf4\x90\x80\x80", ErrKeyNotUTF8}, // past U+10FFFF
	}
	for _, tt := range tests {
		err := CheckKey(tt.key)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("CheckKey(%.20q) = %v, want %v", tt.key, err, tt.want)
		}
		if tt.want == ErrKeyNotUTF8 && (!errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), "keys must be valid UTF-8")) {
			t.Errorf("CheckKey(%q) = %v: want an ErrInvalidKey naming the rule", tt.key, err)
		}
	}
}

// TestWritesRefuseKeysNotUTF8: every write path refuses a key that is not
// valid UTF-8, and writes nothing.
func TestWritesRefuseKeysNotUTF8(t *testing.T) {
	s := openStore(t, "", Options{})
	mustPut(t, s, "ok", "1")
	const bad = "poison/\xff\xfe"
	before := s.Index()
	rec := Record{Key: bad, Value: []byte("v"), Version: s.Clock().Now(), Origin: "peer"}
	writes := map[string]func() error{
		"Put":    func() error { _, err := s.Put(bad, []byte("v"), 0); return err },
		"CAS":    func() error { _, _, err := s.CAS(bad, []byte("v"), 0, ptr(0)); return err },
		"Delete": func() error { _, err := s.Delete(bad, nil); return err },
		"Apply":  func() error { _, err := s.Apply([]Record{rec}); return err },
		// MergeRange takes only checked records: CheckRecord is the
		// write path's gate.
		"MergeRange": func() error {
			c, err := CheckRecord(rec)
			if err != nil {
				return err
			}
			_, _, err = s.MergeRange(TableKV, "", "", []Checked{c}, func(*Record) bool { return false })
			return err
		},
	}
	for name, write := range writes {
		if err := write(); !errors.Is(err, ErrKeyNotUTF8) {
			t.Errorf("%s: %v, want ErrKeyNotUTF8", name, err)
		}
	}
	if s.Index() != before {
		t.Fatalf("index moved from %d to %d", before, s.Index())
	}
	if keys, _, _ := s.Keys("", ""); !slices.Equal(keys, []string{"ok"}) {
		t.Fatalf("keys %q", keys)
	}
}

// writeUnchecked writes a record as the write path did before it checked
// keys for UTF-8: through a local write's transaction, indexed in the
// digest.
func writeUnchecked(t *testing.T, s *Store, key string, value []byte, deleted bool) Record {
	t.Helper()
	e := Entry{Record: Record{Key: key, Value: value, Version: s.Clock().Now(), Origin: s.NodeID(), Deleted: deleted}}
	if err := s.write(func(tx *txn) error { return tx.put(tx.kv(), &e, SourceLocal) }); err != nil {
		t.Fatal(err)
	}
	return e.Record
}

// TestOpenQuarantinesKeysNotUTF8: a store file holding records whose keys
// are not valid UTF-8 (a live key and a tombstone, as a release that did
// not check wrote them) opens with them moved to the quarantine: listed by
// Quarantined, gone from reads, listings, snapshots and the digest, whose
// root then equals that of a store holding only the other records. The
// repair happens once and survives a restart.
func TestOpenQuarantinesKeysNotUTF8(t *testing.T) {
	for _, preDigest := range []bool{false, true} {
		t.Run(fmt.Sprintf("file without digest=%v", preDigest), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, Options{NoSync: true})
			clean := openStore(t, "", Options{NoSync: true})
			for i := range 300 {
				e := mustPut(t, s, fmt.Sprintf("poison/%03d", i), "v")
				if _, err := clean.Apply([]Record{e.Record}); err != nil {
					t.Fatal(err)
				}
			}
			live := writeUnchecked(t, s, "poison/\xff\xfe", []byte("kept"), false)
			tomb := writeUnchecked(t, s, "poison/\xfe", nil, true)
			_, prefixIndex, _ := s.List("poison/")
			if s.DigestRoot() == clean.DigestRoot() {
				t.Fatal("the seeded records are not in the digest")
			}
			s.Close()
			if preDigest {
				dropDigest(t, dir)
			}

			s = openStore(t, dir, Options{})
			if n := s.QuarantinedAtOpen(); n != 2 {
				t.Fatalf("QuarantinedAtOpen = %d, want 2", n)
			}
			checkQuarantined(t, s, live, tomb)
			if s.DigestRoot() != clean.DigestRoot() {
				t.Fatal("digest root differs from a store holding only the valid records")
			}
			if !slices.Equal(recomputed(t, s), s.DigestBucketHashes()) {
				t.Fatal("digest does not match the records")
			}
			for _, k := range []string{live.Key, tomb.Key} {
				if _, found, _, _ := s.Get(k); found {
					t.Fatalf("Get(%q) found a quarantined record", k)
				}
				if recs, _ := s.Records(TableKV, []string{k}); len(recs) != 0 {
					t.Fatalf("Records(%q) = %v", k, recs)
				}
			}
			list, idx, _ := s.List("poison/")
			keys, _, _ := s.Keys("", "")
			if len(list) != 300 || len(keys) != 300 || slices.ContainsFunc(keys, func(k string) bool { return CheckKey(k) != nil }) {
				t.Fatalf("List %d entries, Keys %d", len(list), len(keys))
			}
			if idx < prefixIndex {
				t.Fatalf("the prefix's index went back from %d to %d", prefixIndex, idx)
			}
			var snap bytes.Buffer
			if n, err := s.Snapshot(&snap); err != nil || n != 300 {
				t.Fatalf("Snapshot = %d, %v", n, err)
			}
			// Local writes go on, and a restart repairs nothing more.
			mustPut(t, s, "after", "x")
			s.Close()
			s = openStore(t, dir, Options{})
			if n := s.QuarantinedAtOpen(); n != 0 {
				t.Fatalf("second open quarantined %d", n)
			}
			checkQuarantined(t, s, live, tomb)
		})
	}
}

// dropDigest removes the digest index, as in a file written before the
// store kept one.
func dropDigest(t *testing.T, dir string) {
	t.Helper()
	db, err := bolt.Open(dir+"/"+FileName, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.DeleteBucket(bucketKeys)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkQuarantined(t *testing.T, s *Store, want ...Record) {
	t.Helper()
	got, err := s.Quarantined()
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(want, func(a, b Record) int { return strings.Compare(a.Key, b.Key) })
	if len(got) != len(want) {
		t.Fatalf("quarantine holds %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if Compare(&got[i].Record, &want[i]) != 0 {
			t.Fatalf("quarantined %+v, want %+v", got[i].Record, want[i])
		}
	}
}

// TestRestoreQuarantinesKeysNotUTF8: a backup holding a key that is not
// valid UTF-8 restores the rest and keeps that record in the quarantine;
// a newer version of it replaces an older one there, never the reverse.
func TestRestoreQuarantinesKeysNotUTF8(t *testing.T) {
	snapshot := func(recs ...Record) *bytes.Buffer { return snapshotOf(t, recs...) }
	s := openStore(t, "", Options{})
	a := Record{Key: "a", Value: []byte("1"), Version: 10, Origin: "n"}
	bad := Record{Key: "b\xff", Value: []byte("2"), Version: 10, Origin: "n"}
	c := Record{Key: "c", Value: []byte("3"), Version: 10, Origin: "n"}
	if n, err := s.Restore(snapshot(a, bad, c)); err != nil || n != 2 {
		t.Fatalf("Restore = %d, %v: want 2 changed", n, err)
	}
	checkQuarantined(t, s, bad)
	newer := bad
	newer.Value, newer.Version = []byte("newer"), 20
	if _, err := s.Restore(snapshot(newer)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Restore(snapshot(bad)); err != nil {
		t.Fatal(err)
	}
	checkQuarantined(t, s, newer)
	if keys, _, _ := s.Keys("", ""); !slices.Equal(keys, []string{"a", "c"}) {
		t.Fatalf("keys %q", keys)
	}
	if err := s.Quarantine([]Record{a}); err == nil {
		t.Fatal("Quarantine took a record with a valid key")
	}
}
