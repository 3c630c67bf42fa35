package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/edgeplane/edgeplane/store"
)

// Bucket is the local bucket of last good values: store key → lastGood.
const Bucket = "lastgood"

// maxCached bounds the decoded schemas a Guard keeps; past it the cache
// starts afresh.
const maxCached = 4096

// Store is what a Guard reads: *store.Store implements it.
type Store interface {
	View(fn func(tx *store.Tx) error) error
}

// Guard finds the schema in force for a key and checks values against it.
// It is safe for concurrent use.
type Guard struct {
	st Store
	// strip returns a store key relative to its layer ("global/app/x" →
	// "app/x"), the key itself when no layer holds it.
	strip func(key string) string

	mu    sync.Mutex
	cache map[string]cached // schema key → decoded at a modify index
}

type cached struct {
	index uint64
	s     *Schema
	err   error
}

// NewGuard returns the guard of the schemas in st; strip makes a store
// key relative to its layer (layers.Resolver.Strip), nil leaves keys as
// they are.
func NewGuard(st Store, strip func(string) string) *Guard {
	if strip == nil {
		strip = func(k string) string { return k }
	}
	return &Guard{st: st, strip: strip, cache: make(map[string]cached)}
}

// decode returns the schema of e, decoded once per modify index.
func (g *Guard) decode(e *store.Entry) (*Schema, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.cache[e.Key]; ok && c.index == e.ModifyIndex {
		return c.s, c.err
	}
	s, err := Decode(e.Value)
	if len(g.cache) >= maxCached {
		clear(g.cache)
	}
	g.cache[e.Key] = cached{index: e.ModifyIndex, s: s, err: err}
	return s, err
}

// In returns the schema in force for the store key key in tx, and its
// key: the live, valid schema "_schema/<p>" with the longest p that
// prefixes key relative to its layer. Keys under Prefix have none. A
// stored schema that does not decode (one replicated from a node that
// did not check it) is passed over.
func (g *Guard) In(tx *store.Tx, key string) (*Schema, string, error) {
	if strings.HasPrefix(key, Prefix) {
		return nil, "", nil
	}
	rel := g.strip(key)
	var (
		best    *Schema
		bestKey string
	)
	err := tx.Scan(store.TableKV, Prefix, func(e *store.Entry) error {
		p := e.Key[len(Prefix):]
		if e.Deleted || p == "" || !strings.HasPrefix(rel, p) || len(e.Key) <= len(bestKey) {
			return nil
		}
		if s, err := g.decode(e); err == nil {
			best, bestKey = s, e.Key
		}
		return nil
	})
	return best, bestKey, err
}

// CheckPut checks a write of value to key: a schema (a key under Prefix)
// must decode, a key with a schema in force must pass it. It returns nil,
// an error wrapping ErrInvalidSchema, or a *Violation.
func (g *Guard) CheckPut(key string, value []byte) error {
	if strings.HasPrefix(key, Prefix) {
		if key == Prefix {
			return fmt.Errorf("%s: %w: no prefix after %q", key, ErrInvalidSchema, Prefix)
		}
		if _, err := Decode(value); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	}
	return g.st.View(func(tx *store.Tx) error {
		s, _, err := g.In(tx, key)
		if err != nil || s == nil {
			return err
		}
		return s.Validate(key, value)
	})
}

// lastGood is a last good value as Bucket keeps it.
type lastGood struct {
	Value       []byte
	Flags       uint64
	CreateIndex uint64
	ModifyIndex uint64
}

// Verdict is what a layer serves for a key.
type Verdict struct {
	// Entry is the value to serve: the stored one, or with LastGood the
	// last one that passed.
	Entry store.Entry
	// LastGood: the stored value breaks Rule; Entry is the last good
	// value instead.
	LastGood bool
	// Rule is the rule the stored value breaks ("" when it passes).
	Rule string
}

// Vet returns what the layer holding e (live) serves: e when no schema
// governs its key or e passes; otherwise the last good value, when there
// is one that passes the schema in force. usable is false when there is
// none: the layer serves nothing.
func (g *Guard) Vet(tx *store.Tx, e store.Entry) (v Verdict, usable bool, err error) {
	s, _, err := g.In(tx, e.Key)
	if err != nil || s == nil {
		return Verdict{Entry: e}, err == nil, err
	}
	var viol *Violation
	if err := s.Validate(e.Key, e.Value); !errors.As(err, &viol) {
		return Verdict{Entry: e}, true, nil
	}
	v = Verdict{Rule: viol.Rule}
	raw, ok, err := tx.Local(Bucket).Get(e.Key)
	if err != nil || !ok {
		return v, false, err
	}
	var lg lastGood
	if json.Unmarshal(raw, &lg) != nil || s.Validate(e.Key, lg.Value) != nil {
		return v, false, nil
	}
	v.LastGood = true
	v.Entry = store.Entry{Record: store.Record{Table: e.Table, Key: e.Key, Value: lg.Value, Flags: lg.Flags},
		CreateIndex: lg.CreateIndex, ModifyIndex: lg.ModifyIndex}
	return v, true, nil
}
