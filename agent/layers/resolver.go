package layers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/edgeplane/edgeplane/store"
)

// MaxPrefixBytes bounds the keys and values a ResolvePrefix reads over all
// layers; past it the read fails with ErrTooLarge.
const MaxPrefixBytes = 8 << 20

// Errors callers may match.
var (
	// ErrTooLarge: a prefix holds more than MaxPrefixBytes over all
	// layers. Resolve a narrower prefix.
	ErrTooLarge = errors.New("layers: prefix too large to resolve at once")
	// ErrEmptyKey: Resolve was asked for the empty key.
	ErrEmptyKey = errors.New("layers: empty key")
)

// Store is what Resolver reads: *store.Store implements it.
type Store interface {
	View(fn func(tx *store.Tx) error) error
	WaitKeys(ctx context.Context, keys []store.WatchKey, after uint64, index func(tx *store.Tx) (uint64, error)) (uint64, error)
}

// Resolver looks keys up through the layers of one node. It is immutable
// and safe for concurrent use; build a new one when the layers or names
// change.
type Resolver struct {
	layers    []string // expanded, most specific first
	templates []string
}

// New returns the resolver of templates (checked with CheckTemplates)
// expanded for names; layers whose placeholder is empty are skipped.
func New(templates []string, names Names) (*Resolver, error) {
	if err := CheckTemplates(templates); err != nil {
		return nil, err
	}
	if names.Node == "" {
		return nil, errors.New("layers: no node name")
	}
	r := &Resolver{templates: slices.Clone(templates)}
	for _, t := range templates {
		if l, ok := expand(t, names); ok {
			r.layers = append(r.layers, l)
		}
	}
	return r, nil
}

// Layers returns the layers in effect, most specific first.
func (r *Resolver) Layers() []string { return append([]string(nil), r.layers...) }

// Strip returns key relative to its layer: the key after the first
// layer template, taken for any node, site or environment, that prefixes
// it ("node/n2/app/x" → "app/x"), and key itself when none does. A
// segment holding a placeholder stands for any non-empty path segment.
func (r *Resolver) Strip(key string) string {
	for _, t := range r.templates {
		if rel, ok := stripTemplate(t, key); ok {
			return rel
		}
	}
	return key
}

// stripTemplate strips the layer of template t from key.
func stripTemplate(t, key string) (string, bool) {
	rest := key
	for _, seg := range strings.Split(t, "/") {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return "", false
		}
		got := rest[:i]
		if strings.Contains(seg, "{{") {
			if got == "" {
				return "", false
			}
		} else if got != seg {
			return "", false
		}
		rest = rest[i+1:]
	}
	return rest, rest != ""
}

// Query is a resolution asked for: one key, or with Prefix every key
// under it.
type Query struct {
	Key    string
	Prefix bool
	// Readable, when not nil, says whether the caller may read a store
	// key; layers (and, for a prefix, keys) it refuses are skipped and
	// left out of the index.
	Readable func(storeKey string) bool
}

func (q *Query) readable(key string) bool { return q.Readable == nil || q.Readable(key) }

// Candidate is one layer's candidate for a key.
type Candidate struct {
	Layer    string      // the layer, e.g. "site/berlin"
	StoreKey string      // the key in the store, e.g. "site/berlin/app/timeout"
	Held     bool        // the layer holds the key live; Entry is it
	Denied   bool        // the caller may not read StoreKey: skipped
	Entry    store.Entry // when Held
}

// Resolution is the answer for one key.
type Resolution struct {
	Key string
	// Candidates lists every layer's candidate, most specific first.
	Candidates []Candidate
	// Winner is the index in Candidates of the layer that wins, -1 when
	// no readable layer holds the key.
	Winner int
	// Index is the largest modify index of the readable candidates,
	// deletions included, floored by Tx.FloorIndex.
	Index uint64
}

// Found reports whether a layer holds the key.
func (r *Resolution) Found() bool { return r.Winner >= 0 }

// Value returns the winning candidate, and false when there is none.
func (r *Resolution) Value() (Candidate, bool) {
	if r.Winner < 0 {
		return Candidate{}, false
	}
	return r.Candidates[r.Winner], true
}

// Resolved is one key of a merged prefix: Key, relative to the layers,
// and the candidate that won it.
type Resolved struct {
	Key string
	Candidate
}

// storeKey is key in layer.
func storeKey(layer, key string) string { return layer + "/" + key }

// Resolve resolves q.Key in tx: the first layer holding it live wins.
func (r *Resolver) Resolve(tx *store.Tx, q Query) (Resolution, error) {
	if q.Key == "" {
		return Resolution{}, ErrEmptyKey
	}
	res := Resolution{Key: q.Key, Winner: -1, Candidates: make([]Candidate, len(r.layers))}
	var idx uint64
	for i, l := range r.layers {
		c := Candidate{Layer: l, StoreKey: storeKey(l, q.Key)}
		if !q.readable(c.StoreKey) {
			c.Denied = true
			res.Candidates[i] = c
			continue
		}
		e, found, err := tx.Get(store.TableKV, c.StoreKey)
		if err != nil {
			return Resolution{}, fmt.Errorf("layers: reading %q: %w", c.StoreKey, err)
		}
		if found {
			idx = max(idx, e.ModifyIndex)
			if c.Held = !e.Deleted; c.Held {
				c.Entry = e
				if res.Winner < 0 {
					res.Winner = i
				}
			}
		}
		res.Candidates[i] = c
	}
	res.Index = tx.FloorIndex(idx)
	return res, nil
}

// ResolvePrefix merges the keys under q.Key of every layer, each key
// taken from the first layer holding it live, in key order; it returns
// them with the largest modify index under the prefix in the readable
// layers, deletions included.
func (r *Resolver) ResolvePrefix(tx *store.Tx, q Query) ([]Resolved, uint64, error) {
	var (
		out   []Resolved
		seen  = make(map[string]bool)
		idx   uint64
		bytes int
	)
	for _, l := range r.layers {
		p := storeKey(l, q.Key)
		err := tx.Scan(store.TableKV, p, func(e *store.Entry) error {
			if !q.readable(e.Key) {
				return nil
			}
			idx = max(idx, e.ModifyIndex)
			key := e.Key[len(l)+1:]
			if e.Deleted || seen[key] {
				return nil
			}
			if bytes += len(e.Key) + len(e.Value); bytes > MaxPrefixBytes {
				return fmt.Errorf("%w: more than %d bytes under %q", ErrTooLarge, MaxPrefixBytes, q.Key)
			}
			seen[key] = true
			out = append(out, Resolved{Key: key, Candidate: Candidate{Layer: l, StoreKey: e.Key, Held: true, Entry: *e}})
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
	}
	slices.SortFunc(out, func(a, b Resolved) int { return strings.Compare(a.Key, b.Key) })
	return out, tx.FloorIndex(idx), nil
}

// Index returns the index of q's answer, as Resolve and ResolvePrefix
// compute it.
func (r *Resolver) Index(tx *store.Tx, q Query) (uint64, error) {
	if q.Prefix {
		var idx uint64
		for _, l := range r.layers {
			err := tx.Scan(store.TableKV, storeKey(l, q.Key), func(e *store.Entry) error {
				if q.readable(e.Key) {
					idx = max(idx, e.ModifyIndex)
				}
				return nil
			})
			if err != nil {
				return 0, err
			}
		}
		return tx.FloorIndex(idx), nil
	}
	res, err := r.Resolve(tx, q)
	return res.Index, err
}

// Watched returns the store keys, or prefixes, q's answer depends on.
func (r *Resolver) Watched(q Query) []store.WatchKey {
	ks := make([]store.WatchKey, 0, len(r.layers))
	for _, l := range r.layers {
		k := storeKey(l, q.Key)
		if q.Prefix || q.readable(k) {
			ks = append(ks, store.WatchKey{Key: k, Prefix: q.Prefix})
		}
	}
	return ks
}

// Wait blocks until the index of q's answer passes after, the store
// closes or ctx ends, and returns the index then. Only writes to q's
// candidate keys wake it.
func (r *Resolver) Wait(ctx context.Context, s Store, q Query, after uint64) (uint64, error) {
	return s.WaitKeys(ctx, r.Watched(q), after, func(tx *store.Tx) (uint64, error) { return r.Index(tx, q) })
}

// Lookup resolves q.Key in one read transaction of s.
func (r *Resolver) Lookup(s Store, q Query) (Resolution, error) {
	var res Resolution
	err := s.View(func(tx *store.Tx) error {
		var err error
		res, err = r.Resolve(tx, q)
		return err
	})
	return res, err
}

// LookupPrefix resolves the prefix q.Key in one read transaction of s.
func (r *Resolver) LookupPrefix(s Store, q Query) ([]Resolved, uint64, error) {
	var (
		out []Resolved
		idx uint64
	)
	err := s.View(func(tx *store.Tx) error {
		var err error
		out, idx, err = r.ResolvePrefix(tx, q)
		return err
	})
	return out, idx, err
}
