package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/layers"
)

// resolvePrefix starts the paths of layered reads.
const resolvePrefix = "/v1/edgeplane/resolve/"

// GET /v1/edgeplane/resolve/<key> reads key through the layers
// (package layers): the first layer holding it answers, as an
// api.ResolvedPair, or 404. ?recurse merges the keys under a prefix (a
// list, 404 when empty); ?explain lists every layer's candidate
// (api.Explanation, 200 even when none holds the key). It is a blocking
// query as KV reads are (index, wait): X-Consul-Index is the largest
// modify index of the candidate keys of every layer, deletions included,
// so a blocking read wakes when any layer gains, changes or loses the key,
// and for no other write.
//
// Typed keys (typed.go): a layer whose stored value breaks its schema
// serves its last good value, with LastGood and Rule set, or is skipped
// when it has none.
//
// ACLs: each candidate key needs key read. Layers the token may not read
// are skipped, as if they did not hold the key, and count in neither the
// answer nor its index, as Consul filters a listing
// (X-Consul-Results-Filtered-By-ACLs is set for a named token); a token
// that may read no candidate at all is refused with 403.

// resolveRequest is a parsed /v1/edgeplane/resolve/ request.
type resolveRequest struct {
	key     string
	recurse bool
	explain bool
	read
}

// parseResolveRequest checks a resolve request's key and query
// parameters. It is a pure function of the URL, so it is fuzzed.
func parseResolveRequest(u *url.URL) (resolveRequest, error) {
	req := resolveRequest{key: strings.TrimPrefix(u.Path, resolvePrefix)}
	if !strings.HasPrefix(u.Path, resolvePrefix) {
		return req, badRequest("not a resolve path: %q", u.Path)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return req, badRequest("malformed query: %v", err)
	}
	for name, vals := range q {
		v := vals[0]
		switch name {
		case "recurse":
			req.recurse = true
		case "explain":
			req.explain = true
		default:
			if err := req.read.param(name, v); err != nil {
				return req, err
			}
		}
	}
	switch {
	case !utf8.ValidString(req.key):
		return req, badRequest("key %q: keys must be valid UTF-8", req.key)
	case req.recurse && req.explain:
		return req, badRequest("explain and recurse do not go together: explain one key")
	case req.key == "" && !req.recurse:
		return req, badRequest("missing key name")
	}
	if req.wait == 0 {
		req.wait = DefaultWait
	}
	return req, nil
}

func (a *API) handleResolve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		a.fail(w, r, http.StatusMethodNotAllowed, errors.New("method "+r.Method+" not allowed"))
		return
	}
	req, err := parseResolveRequest(r.URL)
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, err)
		return
	}
	if a.otherDatacenter(w, req.dc) {
		return
	}
	res := a.layers.Resolver()
	z := authorizer(r.Context())
	filtered := false
	q := layers.Query{Key: req.key, Prefix: req.recurse, Readable: func(k string) bool {
		ok := z.KeyRead(k)
		filtered = filtered || !ok
		return ok
	}}
	if ls := res.Layers(); !req.recurse && len(ls) > 0 && len(res.Watched(q)) == 0 {
		a.deny(w, r, z.Description(), z.Denied(acl.ResourceKey, acl.Read, ls[0]+"/"+req.key))
		return
	}
	if req.index > 0 {
		wait := func(ctx context.Context, index uint64) (uint64, error) { return res.Wait(ctx, a.layers, q, index) }
		if !a.blockUntil(w, r.Context(), wait, req.index, req.wait) {
			return
		}
	}
	filtered = false // count the answer's own reads only
	if req.recurse {
		a.resolvePrefix(w, res, q, z, &filtered)
		return
	}
	out, vs, err := a.lookup(res, q)
	if err != nil {
		a.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	setReadMeta(w, out.Index)
	if filtered && !z.Anonymous() {
		w.Header().Set("X-Consul-Results-Filtered-By-ACLs", "true")
	}
	if req.explain {
		writeJSON(w, explanation(out, vs))
		return
	}
	c, ok := out.Value()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	writeJSON(w, resolvedPair(req.key, c, vs[out.Winner]))
}

func (a *API) resolvePrefix(w http.ResponseWriter, res *layers.Resolver, q layers.Query, z *acl.Authorizer, filtered *bool) {
	pairs, idx, err := a.lookupPrefix(res, q)
	if errors.Is(err, layers.ErrTooLarge) {
		a.fail(w, nil, http.StatusBadRequest, err)
		return
	}
	if err != nil {
		a.fail(w, nil, http.StatusInternalServerError, err)
		return
	}
	setReadMeta(w, idx)
	if *filtered && !z.Anonymous() {
		w.Header().Set("X-Consul-Results-Filtered-By-ACLs", "true")
	}
	if len(pairs) == 0 {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	writeJSON(w, pairs)
}

// resolvedPair is the answer of key won by c, serving v.
func resolvedPair(key string, c layers.Candidate, v vetted) api.ResolvedPair {
	return api.ResolvedPair{
		Key: key, Value: v.Entry.Value, Flags: v.Entry.Flags, Layer: c.Layer, LayerKey: c.StoreKey,
		CreateIndex: v.Entry.CreateIndex, ModifyIndex: v.Entry.ModifyIndex, LastGood: v.LastGood, Rule: v.Rule,
	}
}

func explanation(res layers.Resolution, vs []vetted) api.Explanation {
	e := api.Explanation{Key: res.Key, Layers: make([]api.LayerCandidate, len(res.Candidates))}
	for i, c := range res.Candidates {
		lc := api.LayerCandidate{Layer: c.Layer, LayerKey: c.StoreKey, Present: c.Held, Denied: c.Denied, Wins: i == res.Winner}
		if c.Held {
			lc.Value, lc.Flags, lc.ModifyIndex = c.Entry.Value, c.Entry.Flags, c.Entry.ModifyIndex
			lc.Rule, lc.LastGood = vs[i].Rule, vs[i].LastGood
		}
		if lc.Wins {
			e.Layer = c.Layer
		}
		e.Layers[i] = lc
	}
	return e
}
