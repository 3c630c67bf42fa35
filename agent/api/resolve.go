package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// ResolvedPair is a key resolved through the agent's layers, the answer of
// GET /v1/edgeplane/resolve/<key>: the value of the first layer (node,
// site, environment, global by default) that holds the key.
type ResolvedPair struct {
	Key         string // relative to the layers, as asked: "app/timeout"
	Value       []byte // base64 in JSON, as KVPair's
	Flags       uint64
	Layer       string // the layer that won: "site/berlin"
	LayerKey    string // the key in the store: "site/berlin/app/timeout"
	CreateIndex uint64
	ModifyIndex uint64
	// LastGood: the layer's stored value breaks its key's schema (Rule);
	// Value, Flags and the indexes are the last value that passed.
	LastGood bool   `json:",omitempty"`
	Rule     string `json:",omitempty"`
}

// LayerCandidate is one layer's candidate for a key, in an Explanation.
type LayerCandidate struct {
	Layer    string
	LayerKey string
	// Present: the layer holds the key (live); Value, Flags and
	// ModifyIndex are its.
	Present bool
	// Denied: the token may not read LayerKey; the layer was skipped.
	Denied bool `json:",omitempty"`
	// Wins: this layer's value is the answer.
	Wins        bool `json:",omitempty"`
	Value       []byte
	Flags       uint64
	ModifyIndex uint64
	// Rule: the stored value breaks its key's schema. With LastGood the
	// layer serves the last value that passed, else it is skipped; Value
	// is the stored one.
	Rule     string `json:",omitempty"`
	LastGood bool   `json:",omitempty"`
}

// Explanation is the answer of GET /v1/edgeplane/resolve/<key>?explain:
// every layer's candidate, most specific first.
type Explanation struct {
	Key    string
	Layer  string // the winning layer; "" when none holds the key
	Layers []LayerCandidate
}

// resolvePath escapes a key for a /v1/edgeplane/resolve/ URL path.
func resolvePath(key string) string {
	return "/v1/edgeplane/resolve/" + (&url.URL{Path: key}).EscapedPath()
}

// Resolve reads key through the agent's layers; it returns nil and no
// error when no layer holds it.
func (kv *KV) Resolve(ctx context.Context, key string) (*ResolvedPair, error) {
	p, _, err := kv.ResolveBlocking(ctx, key, 0, 0)
	return p, err
}

// ResolveBlocking is Resolve as a blocking query: with index > 0 the agent
// answers once the key's resolved index passes index (a layer gains,
// changes or loses the key) or after wait. It returns the answer's index
// to wait past next.
func (kv *KV) ResolveBlocking(ctx context.Context, key string, index uint64, wait time.Duration) (*ResolvedPair, uint64, error) {
	var p ResolvedPair
	found, idx, err := kv.resolve(ctx, key, blockingQuery(url.Values{}, index, wait), &p)
	if err != nil || !found {
		return nil, idx, err
	}
	return &p, idx, nil
}

// ResolvePrefix merges the keys under prefix of every layer, each key
// from the layer that wins it, in key order.
func (kv *KV) ResolvePrefix(ctx context.Context, prefix string) ([]ResolvedPair, error) {
	var ps []ResolvedPair
	_, _, err := kv.resolve(ctx, prefix, url.Values{"recurse": {""}}, &ps)
	return ps, err
}

// Explain lists every layer's candidate for key.
func (kv *KV) Explain(ctx context.Context, key string) (Explanation, error) {
	var e Explanation
	_, _, err := kv.resolve(ctx, key, url.Values{"explain": {""}}, &e)
	return e, err
}

// resolve sends a resolve request and decodes its answer into out; a 404
// is no error, and reports found false.
func (kv *KV) resolve(ctx context.Context, key string, q url.Values, out any) (found bool, index uint64, err error) {
	resp, err := kv.c.send(ctx, request{method: http.MethodGet, path: resolvePath(key), query: q})
	if err != nil {
		return false, 0, err
	}
	if resp.StatusCode != http.StatusNotFound {
		if err := statusError(resp); err != nil {
			return false, 0, err
		}
	}
	defer resp.Body.Close()
	if index, err = answerIndex(resp); err != nil {
		return false, 0, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return false, index, decode(resp.Body, nil)
	}
	return true, index, decode(resp.Body, out)
}
