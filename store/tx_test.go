package store

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// TestUpdateIsOneTransaction: Update writes a replicated record and local
// state in one transaction, one commit: both or neither. Local state is
// not replicated: it is out of the digest, snapshots, the feed and the
// modify index, and it survives a restart.
func TestUpdateIsOneTransaction(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	sub := s.Subscribe("all", 10)
	defer sub.Close()
	root, index := s.DigestRoot(), s.Index()
	errNo := errors.New("changed my mind")
	err := s.Update(func(tx *Tx) error {
		if _, err := tx.Put(testTable, "svc/web", []byte("registered"), 0); err != nil {
			return err
		}
		if err := tx.Local("registrations").Put("web", []byte("from the API")); err != nil {
			return err
		}
		return errNo
	})
	if !errors.Is(err, errNo) {
		t.Fatalf("Update = %v", err)
	}
	if v, found, _ := s.Local("registrations").Get("web"); found || s.DigestRoot() != root || s.Index() != index {
		t.Fatalf("a failed Update left %q, digest changed %v, index %d -> %d", v, s.DigestRoot() != root, index, s.Index())
	}
	if changes, _ := sub.Poll(); len(changes) != 0 {
		t.Fatalf("a failed Update reached the feed: %+v", changes)
	}

	err = s.Update(func(tx *Tx) error {
		if _, err := tx.Put(testTable, "svc/web", []byte("registered"), 0); err != nil {
			return err
		}
		return tx.Local("registrations").Put("web", []byte("from the API"))
	})
	if err != nil {
		t.Fatal(err)
	}
	changes, _ := sub.Poll()
	if len(changes) != 1 || changes[0].Table != testTable || changes[0].Source != SourceLocal {
		t.Fatalf("feed: %+v, want the one replicated write", changes)
	}
	root, index = s.DigestRoot(), s.Index()
	if err := s.Local("registrations").Put("db", []byte("too")); err != nil {
		t.Fatal(err)
	}
	if s.DigestRoot() != root || s.Index() != index {
		t.Fatal("a local write changed the digest or the index")
	}
	if changes, _ := sub.Poll(); len(changes) != 0 {
		t.Fatalf("a local write reached the feed: %+v", changes)
	}
	var snap bytes.Buffer
	if n, err := s.Snapshot(&snap); err != nil || n != 1 {
		t.Fatalf("Snapshot = %d, %v: want the one replicated record", n, err)
	}

	s.Close()
	s = openStore(t, dir, Options{})
	var keys []string
	err = s.Local("registrations").Scan("", func(k string, v []byte) error {
		keys = append(keys, k+"="+string(v))
		return nil
	})
	if err != nil || !slices.Equal(keys, []string{"db=too", "web=from the API"}) {
		t.Fatalf("after reopen: %q, %v", keys, err)
	}
	if err := s.Local("registrations").Delete("db"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.Local("registrations").Get("db"); found {
		t.Fatal("Delete left the key")
	}
	if err := s.Local("registrations").Delete("never"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if _, found, err := s.Local("never-written").Get("k"); found || err != nil {
		t.Fatalf("Get from a bucket never written: %v, %v", found, err)
	}
}

// TestViewIsReadOnly: View reads tables and local buckets; its writes
// fail with ErrReadOnly.
func TestViewIsReadOnly(t *testing.T) {
	s := openStore(t, "", Options{})
	err := s.Update(func(tx *Tx) error {
		for _, k := range []string{"a/1", "a/2", "b/1"} {
			if _, err := tx.Put(testTable, k, []byte(k), 0); err != nil {
				return err
			}
		}
		_, err := tx.Delete(testTable, "a/2")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(func(tx *Tx) error {
		var seen []string
		if err := tx.Scan(testTable, "a/", func(e *Entry) error {
			seen = append(seen, e.Key)
			if e.Table != testTable {
				t.Errorf("%s: table %q", e.Key, e.Table)
			}
			return nil
		}); err != nil {
			return err
		}
		if !slices.Equal(seen, []string{"a/1", "a/2"}) {
			t.Errorf("Scan = %q (tombstones included)", seen)
		}
		if e, found, err := tx.Get(testTable, "b/1"); !found || string(e.Value) != "b/1" || err != nil {
			t.Errorf("Get = %+v, %v, %v", e, found, err)
		}
		if _, err := tx.Put(testTable, "c", nil, 0); !errors.Is(err, ErrReadOnly) {
			t.Errorf("Put in View: %v", err)
		}
		if _, err := tx.Delete(testTable, "c"); !errors.Is(err, ErrReadOnly) {
			t.Errorf("Delete in View: %v", err)
		}
		if err := tx.Local("x").Put("c", nil); !errors.Is(err, ErrReadOnly) {
			t.Errorf("Local Put in View: %v", err)
		}
		if _, _, err := tx.Get("nope", "k"); !errors.Is(err, ErrUnknownTable) {
			t.Errorf("Get from an unknown table: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(func(tx *Tx) error {
		_, err := tx.Put(testTable, "bad\xff", nil, 0)
		return err
	})
	if !errors.Is(err, ErrKeyNotUTF8) {
		t.Fatalf("Tx.Put of a key not UTF-8: %v", err)
	}
}
