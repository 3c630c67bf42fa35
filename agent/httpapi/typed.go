package httpapi

import (
	"errors"
	"net/http"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/layers"
	"github.com/edgeplane/edgeplane/agent/schema"
	"github.com/edgeplane/edgeplane/store"
)

// Typed keys (package schema): a KV write of a key a schema governs, or
// of a schema itself, is checked before it is written; a refused one is
// answered 400 with the key and the rule it breaks, and writes nothing.
// Resolve serves, for a layer whose stored value breaks its schema, the
// last value of that layer key that passed (LastGood and Rule in the
// answer), or skips the layer when there is none. Plain KV reads return
// what is stored.

// typed checks a KV write of value to key against the schemas; it answers
// 400 (or 500) and returns false when the write must not happen.
func (a *API) typed(w http.ResponseWriter, key string, value []byte) bool {
	if a.schemas == nil {
		return true
	}
	err := a.schemas.CheckPut(key, value)
	var v *schema.Violation
	switch {
	case err == nil:
		return true
	case errors.As(err, &v) || errors.Is(err, schema.ErrInvalidSchema):
		a.fail(w, nil, http.StatusBadRequest, err)
	default:
		a.fail(w, nil, http.StatusInternalServerError, err)
	}
	return false
}

// vetted is what a layer's candidate serves once checked against its
// schema.
type vetted struct {
	schema.Verdict
	skip bool // breaks its schema with no last good value: not served
}

// lookup resolves q.Key in one read transaction and vets its candidates:
// the winner is the first layer holding a value that passes, or a last
// good one.
func (a *API) lookup(r *layers.Resolver, q layers.Query) (res layers.Resolution, vs []vetted, err error) {
	err = a.layers.View(func(tx *store.Tx) error {
		if res, err = r.Resolve(tx, q); err != nil {
			return err
		}
		vs, err = a.vet(tx, &res)
		return err
	})
	return res, vs, err
}

// vet checks res's held candidates and sets its winner to the first one
// that serves a value.
func (a *API) vet(tx *store.Tx, res *layers.Resolution) ([]vetted, error) {
	vs := make([]vetted, len(res.Candidates))
	for i, c := range res.Candidates {
		vs[i].Entry = c.Entry
	}
	if a.schemas == nil {
		return vs, nil
	}
	res.Winner = -1
	for i, c := range res.Candidates {
		if !c.Held {
			continue
		}
		v, usable, err := a.schemas.Vet(tx, c.Entry)
		if err != nil {
			return nil, err
		}
		vs[i] = vetted{Verdict: v, skip: !usable}
		if usable && res.Winner < 0 {
			res.Winner = i
		}
	}
	return vs, nil
}

// lookupPrefix merges the prefix q.Key as ResolvePrefix does, in one read
// transaction, with each key's value vetted: a key whose winning layer
// serves nothing is resolved again through the layers below it.
func (a *API) lookupPrefix(r *layers.Resolver, q layers.Query) ([]api.ResolvedPair, uint64, error) {
	var (
		pairs []api.ResolvedPair
		idx   uint64
	)
	err := a.layers.View(func(tx *store.Tx) error {
		out, i, err := r.ResolvePrefix(tx, q)
		if err != nil {
			return err
		}
		idx = i
		for _, rk := range out {
			v := vetted{Verdict: schema.Verdict{Entry: rk.Entry}}
			if a.schemas != nil {
				var usable bool
				if v.Verdict, usable, err = a.schemas.Vet(tx, rk.Entry); err != nil {
					return err
				}
				if !usable {
					res, err := r.Resolve(tx, layers.Query{Key: rk.Key, Readable: q.Readable})
					if err != nil {
						return err
					}
					vs, err := a.vet(tx, &res)
					if err != nil {
						return err
					}
					c, ok := res.Value()
					if !ok {
						continue
					}
					rk.Candidate, v = c, vs[res.Winner]
				}
			}
			pairs = append(pairs, resolvedPair(rk.Key, rk.Candidate, v))
		}
		return nil
	})
	return pairs, idx, err
}
