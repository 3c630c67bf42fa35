package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// KV calls the key/value endpoints, /v1/kv/. Get one from Client.KV.
type KV struct{ c *Client }

// KV returns the key/value half of the API.
func (c *Client) KV() *KV { return &KV{c: c} }

// KVList is every pair under a prefix and the prefix's index when it was
// read (X-Consul-Index: the agent's local modify index, deletions
// included).
type KVList struct {
	Pairs []KVPair
	Index uint64
}

// kvPath escapes a key for a /v1/kv/ URL path.
func kvPath(key string) string {
	return "/v1/kv/" + (&url.URL{Path: key}).EscapedPath()
}

// Get reads key; it returns nil and no error when the key does not exist.
func (kv *KV) Get(ctx context.Context, key string) (*KVPair, error) {
	var pairs []KVPair
	err := kv.c.do(ctx, request{method: http.MethodGet, path: kvPath(key)}, &pairs)
	if IsNotFound(err) || (err == nil && len(pairs) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &pairs[0], nil
}

// List reads every pair under prefix, in key order; "" lists the whole
// store.
func (kv *KV) List(ctx context.Context, prefix string) ([]KVPair, error) {
	l, err := kv.list(ctx, prefix, 0, 0)
	return l.Pairs, err
}

// list reads every pair under prefix. With index > 0 it is a blocking
// query: the agent answers once the prefix's index passes index, or after
// wait. A 404 is an empty list.
func (kv *KV) list(ctx context.Context, prefix string, index uint64, wait time.Duration) (KVList, error) {
	q := blockingQuery(url.Values{"recurse": {""}}, index, wait)
	resp, err := kv.c.send(ctx, request{method: http.MethodGet, path: kvPath(prefix), query: q})
	if err != nil {
		return KVList{}, err
	}
	if resp.StatusCode != http.StatusNotFound {
		if err := statusError(resp); err != nil {
			return KVList{}, err
		}
	}
	defer resp.Body.Close()
	var l KVList
	if l.Index, err = answerIndex(resp); err != nil {
		return KVList{}, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return l, decode(resp.Body, nil)
	}
	return l, decode(resp.Body, &l.Pairs)
}

// Keys lists the keys under prefix. With a separator (e.g. "/"), keys are
// listed only up to the first separator after the prefix, each once.
func (kv *KV) Keys(ctx context.Context, prefix, separator string) ([]string, error) {
	q := url.Values{"keys": {""}}
	if separator != "" {
		q.Set("separator", separator)
	}
	var keys []string
	err := kv.c.do(ctx, request{method: http.MethodGet, path: kvPath(prefix), query: q}, &keys)
	if IsNotFound(err) {
		return nil, nil
	}
	return keys, err
}

// Put writes p.Value and p.Flags under p.Key.
func (kv *KV) Put(ctx context.Context, p KVPair) error {
	ok, err := kv.write(ctx, http.MethodPut, p.Key, p.Value, p.Flags, nil)
	if err == nil && !ok {
		err = fmt.Errorf("api: the agent did not write %q", p.Key)
	}
	return err
}

// CAS writes p.Value and p.Flags under p.Key only if the key's modify
// index is p.ModifyIndex (0: only if the key does not exist). It reports
// whether it wrote.
func (kv *KV) CAS(ctx context.Context, p KVPair) (bool, error) {
	return kv.write(ctx, http.MethodPut, p.Key, p.Value, p.Flags, &p.ModifyIndex)
}

// Delete deletes key. Deleting a key that does not exist is no error.
func (kv *KV) Delete(ctx context.Context, key string) error {
	_, err := kv.write(ctx, http.MethodDelete, key, nil, 0, nil)
	return err
}

// DeleteCAS deletes key only if its modify index is index, and reports
// whether it did.
func (kv *KV) DeleteCAS(ctx context.Context, key string, index uint64) (bool, error) {
	return kv.write(ctx, http.MethodDelete, key, nil, 0, &index)
}

// DeleteTree deletes every key under prefix; "" deletes them all.
func (kv *KV) DeleteTree(ctx context.Context, prefix string) error {
	var ok bool
	return kv.c.do(ctx, request{method: http.MethodDelete, path: kvPath(prefix), query: url.Values{"recurse": {""}}}, &ok)
}

// write sends a PUT or DELETE of key and returns the agent's true or
// false.
func (kv *KV) write(ctx context.Context, method, key string, value []byte, flags uint64, cas *uint64) (bool, error) {
	q := url.Values{}
	if flags != 0 {
		q.Set("flags", strconv.FormatUint(flags, 10))
	}
	if cas != nil {
		q.Set("cas", strconv.FormatUint(*cas, 10))
	}
	r := request{method: method, path: kvPath(key), query: q}
	if method == http.MethodPut {
		r.body = bytes.NewReader(value)
	}
	var ok bool
	err := kv.c.do(ctx, r, &ok)
	return ok, err
}
