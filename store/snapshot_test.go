package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSnapshotRoundTrip(t *testing.T) {
	src := openStore(t, "", Options{})
	for i := range 2500 { // more than one read chunk
		mustPut(t, src, fmt.Sprintf("k%05d", i), fmt.Sprint(i))
	}
	if _, err := src.Delete("k00007", nil); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := src.Snapshot(&buf)
	if err != nil || n != 2500 {
		t.Fatalf("Snapshot = %d, %v", n, err)
	}
	dst := openStore(t, "", Options{})
	if applied, err := dst.Restore(bytes.NewReader(buf.Bytes())); err != nil || applied != 2500 {
		t.Fatalf("Restore = %d, %v", applied, err)
	}
	want, _, _ := src.List("")
	got, _, _ := dst.List("")
	if len(got) != len(want) {
		t.Fatalf("restored %d live keys, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i].Record, want[i].Record) {
			t.Fatalf("record %d: %+v, want %+v", i, got[i].Record, want[i].Record)
		}
	}
	// Restoring again changes nothing.
	before := dst.Index()
	if applied, err := dst.Restore(bytes.NewReader(buf.Bytes())); err != nil || applied != 0 || dst.Index() != before {
		t.Fatalf("second Restore = %d, %v, index %d -> %d", applied, err, before, dst.Index())
	}
}

func TestRestoreNeverOverwritesNewer(t *testing.T) {
	src := openStore(t, "", Options{})
	mustPut(t, src, "k", "old")
	var buf bytes.Buffer
	if _, err := src.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	dst := openStore(t, "", Options{})
	mustPut(t, dst, "placeholder", "x")
	newer := Record{Key: "k", Value: []byte("new"), Version: src.Clock().Now() + 1000, Origin: "n"}
	if _, err := dst.Apply([]Record{newer}); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if got, _, _, _ := dst.Get("k"); string(got.Value) != "new" {
		t.Fatalf("restore overwrote a newer record: %q", got.Value)
	}
}

func TestSnapshotReaderRejectsDamage(t *testing.T) {
	var buf bytes.Buffer
	sw := NewSnapshotWriter(&buf)
	for i := range 3 {
		if err := sw.Write(&Record{Key: fmt.Sprint("k", i), Value: []byte("value"), Version: 9}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flipped := bytes.Clone(good)
	flipped[20] ^= 0xff
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrSnapshotFormat},
		{"wrong magic", []byte("NOTSNAPSHOT"), ErrSnapshotFormat},
		{"cut in a frame", good[:len(good)/2], ErrSnapshotTruncated},
		{"no end frame", good[:len(good)-6], ErrSnapshotTruncated},
		{"flipped byte", flipped, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sr := NewSnapshotReader(bytes.NewReader(tt.in))
			var err error
			for range 10 {
				if _, err = sr.Next(); err != nil {
					break
				}
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifySnapshot(t *testing.T) {
	var buf bytes.Buffer
	sw := NewSnapshotWriter(&buf)
	for i := range 3 {
		if err := sw.Write(&Record{Key: fmt.Sprint("k", i), Value: []byte("value"), Version: 9, Origin: "n"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	if n, err := VerifySnapshot(bytes.NewReader(good)); n != 3 || err != nil {
		t.Fatalf("VerifySnapshot(good) = %d, %v; want 3, nil", n, err)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"not a snapshot", []byte("this is not a snapshot stream"), ErrSnapshotFormat},
		{"cut", good[:len(good)-1], ErrSnapshotTruncated},
		{"trailing data", append(bytes.Clone(good), 'x'), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := VerifySnapshot(bytes.NewReader(tt.in)); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzSnapshotReader decodes arbitrary streams and restores them into a
// store: a stream the reader accepts whole restores without error, its
// records whose keys are not valid UTF-8 go to the quarantine, and the
// store never holds such a key.
func FuzzSnapshotReader(f *testing.F) {
	var buf bytes.Buffer
	sw := NewSnapshotWriter(&buf)
	_ = sw.Write(&Record{Key: "a", Value: []byte("1"), Version: 1, Origin: "n"})
	_ = sw.Write(&Record{Key: "b", Deleted: true, Version: 2})
	_ = sw.Write(&Record{Key: "poison/\xff\xfe", Value: []byte("2"), Version: 3, Origin: "n"})
	_ = sw.Write(&Record{Table: testTable, Key: "t", Value: []byte("3"), Version: 4, Origin: "n"})
	_ = sw.Close()
	f.Add(buf.Bytes())
	f.Add(snapshotMagic)
	f.Add(snapshotMagicV1)
	if v1, err := os.ReadFile("testdata/snapshot-v1.snap"); err == nil {
		f.Add(v1)
	}
	s := openStore(f, "", Options{NoSync: true})
	f.Fuzz(func(t *testing.T, b []byte) {
		sr := NewSnapshotReader(bytes.NewReader(b))
		var invalid []string
		for i := 0; ; i++ {
			rec, err := sr.Next()
			if err == io.EOF {
				break
			}
			if err != nil || i == 1000 {
				return
			}
			if rec.Key == "" || len(rec.Key) > MaxKeyLen {
				t.Fatalf("decoded an invalid key %q", rec.Key)
			}
			if err := CheckKey(rec.Key); errors.Is(err, ErrKeyNotUTF8) {
				invalid = append(invalid, rec.Key)
			}
		}
		if _, err := s.Restore(bytes.NewReader(b)); err != nil {
			t.Fatalf("a stream the reader accepts failed to restore: %v", err)
		}
		q, err := s.Quarantined()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range invalid {
			if _, ok := slices.BinarySearchFunc(q, k, func(e Entry, k string) int { return strings.Compare(e.Key, k) }); !ok {
				t.Fatalf("key %q is neither restored nor quarantined", k)
			}
			if _, found, _, _ := s.Get(k); found {
				t.Fatalf("the store holds key %q", k)
			}
		}
	})
}

// TestRestoreWithChecksRecords: a restore checks each record as one from
// a peer: records without an origin or a version are dropped and counted,
// as are, with MaxAhead, those stamped too far ahead; a stream naming a
// table this binary does not declare stops with ErrUnknownTable.
func TestRestoreWithChecksRecords(t *testing.T) {
	s := openStore(t, "", Options{})
	now := s.Clock().Now()
	res, err := s.RestoreWith(snapshotOf(t,
		Record{Key: "ok", Value: []byte("1"), Version: now, Origin: "n"},
		Record{Table: testTable, Key: "ok", Value: []byte("2"), Version: now, Origin: "n"},
		Record{Key: "no-origin", Version: now},
		Record{Key: "no-version", Origin: "n"},
		Record{Key: "future", Version: now + MakeStamp(3_600_000, 0), Origin: "n"},
	), RestoreOptions{MaxAhead: time.Minute})
	if err != nil || res.Changed != 2 || res.Malformed != 2 || res.Rejected != 1 || len(res.Quarantined) != 0 {
		t.Fatalf("RestoreWith = %+v, %v", res, err)
	}
	if s.Clock().Now() > now+MakeStamp(60_000, 0) {
		t.Fatal("a rejected stamp moved the clock")
	}
	unknown := snapshotOf(t, Record{Table: "nope", Key: "k", Version: now, Origin: "n"})
	if _, err := s.RestoreWith(unknown, RestoreOptions{}); !errors.Is(err, ErrUnknownTable) {
		t.Fatalf("restore of an unknown table: %v", err)
	}
}

// snapshotOf returns a snapshot stream of recs.
func snapshotOf(t *testing.T, recs ...Record) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	sw := NewSnapshotWriter(&buf)
	for i := range recs {
		if err := sw.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}
