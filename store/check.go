package store

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrInvalidRecord reports a record from elsewhere that may not be merged:
// one without an origin or a version (see CheckRecord).
var ErrInvalidRecord = errors.New("store: invalid record")

// Checked is a record from elsewhere (a peer, a backup) that CheckRecord
// has accepted. Decoders of received records check each once, where they
// decode it, and hand on Checked records: Apply, ApplyChecked and
// MergeRange take them without checking again.
type Checked struct {
	rec Record
}

// Record returns the checked record, its table in canonical form
// (TableKV, never "kv").
func (c *Checked) Record() Record { return c.rec }

// CheckRecord checks a record written elsewhere before it is merged: its
// table is TableKV ("kv" is taken for it) or a declared one (else
// ErrUnknownTable), its key passes CheckKey (ErrInvalidKey), its value is
// at most MaxValueLen bytes (ErrValueTooLarge), its origin is 1 to 256
// bytes of valid UTF-8, it has a version and its Prev, if any, is
// earlier (ErrInvalidRecord).
func CheckRecord(r Record) (Checked, error) {
	if err := CheckKey(r.Key); err != nil {
		return Checked{}, err
	}
	switch {
	case len(r.Value) > MaxValueLen:
		return Checked{}, fmt.Errorf("%w: key %q: %d bytes (max %d)", ErrValueTooLarge, r.Key, len(r.Value), MaxValueLen)
	case r.Origin == "" || len(r.Origin) > maxOriginLen || !utf8.ValidString(r.Origin):
		return Checked{}, fmt.Errorf("%w: bad origin %q", ErrInvalidRecord, r.Origin)
	case r.Version == 0:
		return Checked{}, fmt.Errorf("%w: key %q: no version", ErrInvalidRecord, r.Key)
	case r.Prev >= r.Version:
		return Checked{}, fmt.Errorf("%w: key %q: previous version %d not before %d", ErrInvalidRecord, r.Key, r.Prev, r.Version)
	}
	tb, err := lookupTable(r.Table)
	if err != nil {
		return Checked{}, err
	}
	r.Table = tb.name
	return Checked{rec: r}, nil
}
