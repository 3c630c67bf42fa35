package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// HistoryVersion is one version of a key in a node's history, as GET
// /v1/edgeplane/history/<key> lists them.
type HistoryVersion struct {
	Key     string
	Value   []byte // base64 in JSON, as KVPair's
	Flags   uint64
	Version uint64 // the write's stamp as a number: what rollback takes
	Stamp   string // the same stamp, readable: "2026-06-01T10:00:00.000Z+0"
	Origin  string // id of the node that wrote it
	Deleted bool   `json:",omitempty"`
	// Held: the version was the key's value on this node.
	Held bool `json:",omitempty"`
	// Lost: last-writer-wins discarded it for a concurrent write.
	Lost bool `json:",omitempty"`
	// RollbackOf is the Version this one restored, when a rollback on
	// this node wrote it.
	RollbackOf     uint64 `json:",omitempty"`
	RollbackOrigin string `json:",omitempty"`
}

// HistoryOptions narrow a history listing.
type HistoryOptions struct {
	Prefix bool   // every key under the key given
	Since  string // only versions stamped at or after: a version, a stamp, RFC 3339 or a duration ago ("1h")
	Lost   bool   // only the versions last-writer-wins discarded
	Limit  int    // at most this many, the newest (0: the agent's default)
}

// History lists the versions of key (or of the keys under it, with
// Prefix) that the local agent holds in its history, newest first.
func (kv *KV) History(ctx context.Context, key string, o HistoryOptions) ([]HistoryVersion, error) {
	q := url.Values{}
	if o.Prefix {
		q.Set("prefix", "")
	}
	if o.Since != "" {
		q.Set("since", o.Since)
	}
	if o.Lost {
		q.Set("lost", "")
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var out []HistoryVersion
	err := kv.c.do(ctx, request{method: http.MethodGet, path: "/v1/edgeplane/history/" + (&url.URL{Path: key}).EscapedPath(), query: q}, &out)
	return out, err
}

// RollbackRequest is the body of PUT /v1/edgeplane/rollback.
type RollbackRequest struct {
	// Key is the key to roll back, or with Prefix the prefix.
	Key    string
	Prefix bool `json:",omitempty"`
	// To is, for one key, the version to restore (its Version, or its
	// Stamp); for a prefix, the time to restore it to (RFC 3339, a stamp,
	// or a duration ago such as "30m").
	To string
	// Origin picks among versions of several origins with one stamp.
	Origin string `json:",omitempty"`
	// Dry plans the rollback without writing it.
	Dry bool `json:",omitempty"`
}

// RollbackChange is one key a rollback writes.
type RollbackChange struct {
	Key    string
	Delete bool   `json:",omitempty"` // the key is deleted; else Value and Flags are written
	Value  []byte `json:",omitempty"`
	Flags  uint64 `json:",omitempty"`
	// To is the Version restored, ToStamp its stamp, ToOrigin its writer.
	To       uint64
	ToStamp  string
	ToOrigin string
	// From is the Version the key held (0: none); FromDeleted: a tombstone.
	From        uint64 `json:",omitempty"`
	FromDeleted bool   `json:",omitempty"`
	FromValue   []byte `json:",omitempty"`
	// Written is the new write's Version once applied.
	Written uint64 `json:",omitempty"`
}

// RollbackResult answers a rollback: what it changed (or, with Dry,
// would change), and the keys under a prefix whose state at the time the
// history cannot tell, left alone.
type RollbackResult struct {
	Changes []RollbackChange
	Unknown []string `json:",omitempty"`
	Applied bool
}

// Rollback plans, and unless r.Dry writes, a rollback on the local agent.
func (kv *KV) Rollback(ctx context.Context, r RollbackRequest) (RollbackResult, error) {
	var out RollbackResult
	err := kv.c.do(ctx, request{method: http.MethodPut, path: "/v1/edgeplane/rollback", body: jsonBody(r)}, &out)
	return out, err
}
