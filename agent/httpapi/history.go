package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/store"
)

// History and rollback (store.History, store.Rollback).
//
// GET /v1/edgeplane/history/<key> lists the versions of key this node
// holds in its history, newest first, as []api.HistoryVersion (200, an
// empty list when it holds none). ?prefix lists every key under key;
// ?since=X only versions stamped at or after X (a Version, a stamp as
// printed, RFC 3339, or a duration ago such as 1h); ?lost only the
// versions last-writer-wins discarded; ?limit=N at most N, the newest
// (DefaultHistoryLimit, at most MaxHistoryLimit). ACLs: key read on key;
// a prefix listing is filtered to the keys the token may read.
//
// PUT /v1/edgeplane/rollback takes an api.RollbackRequest (JSON, at most
// MaxRollbackBody bytes, else 400; unknown fields refused) and answers an
// api.RollbackResult. One key goes back to a version of its history; a
// prefix goes back to its state at a time, as this node saw it. Every
// change is a new write, stamped now, in one transaction. A value that
// breaks the schema now in force is refused (400, with the rule), and the
// whole rollback with it; so is a malformed body (400). A key written
// between the plan and the write refuses the rollback with 409. ACLs:
// key write on the key, or on every key under the prefix.

const (
	historyPath  = "/v1/edgeplane/history/"
	rollbackPath = "/v1/edgeplane/rollback"
	// DefaultHistoryLimit is how many versions a history listing returns
	// without ?limit.
	DefaultHistoryLimit = 1000
	// MaxHistoryLimit is the largest ?limit.
	MaxHistoryLimit = 100_000
	// MaxRollbackBody is the largest rollback request body.
	MaxRollbackBody = 16 << 10
)

// parseHistoryRequest checks a history request's key and query
// parameters. It is a pure function of the URL and the time, so it is
// fuzzed.
func parseHistoryRequest(u *url.URL, now time.Time) (store.HistoryQuery, error) {
	q := store.HistoryQuery{Limit: DefaultHistoryLimit}
	key, ok := strings.CutPrefix(u.Path, historyPath)
	if !ok {
		return q, badRequest("not a history path: %q", u.Path)
	}
	q.Key = key
	vals, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return q, badRequest("malformed query: %v", err)
	}
	for name, vs := range vals {
		v := vs[0]
		switch name {
		case "prefix", "recurse":
			q.Prefix = true
		case "lost":
			q.LostOnly = true
		case "since":
			if q.Since, err = parseStampArg(v, now, false); err != nil {
				return q, badRequest("since: %v", err)
			}
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxHistoryLimit {
				return q, badRequest("limit %q: a number from 1 to %d", v, MaxHistoryLimit)
			}
			q.Limit = n
		case "token", "dc":
		default:
			return q, badRequest("unknown parameter %q", name)
		}
	}
	switch {
	case !utf8.ValidString(q.Key):
		return q, badRequest("key %q: keys must be valid UTF-8", q.Key)
	case q.Key == "" && !q.Prefix:
		return q, badRequest("missing key name")
	}
	return q, nil
}

// parseStampArg reads a version or a time: a stamp as a number, a stamp
// as store.Stamp prints it, RFC 3339, or a duration ago. A time that is
// not a stamp stands for the start of its millisecond, or with end for
// its last stamp, so that "at or before" a time takes in every write of
// that millisecond.
func parseStampArg(s string, now time.Time, end bool) (store.Stamp, error) {
	var counter uint16
	if end {
		counter = 1<<16 - 1
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil && n > 0 {
		return store.Stamp(n), nil
	}
	if t, c, ok := strings.Cut(s, "Z+"); ok {
		ts, err := time.Parse("2006-01-02T15:04:05.000", t)
		n, cerr := strconv.ParseUint(c, 10, 16)
		if err != nil || cerr != nil || ts.UnixMilli() < 0 {
			return 0, fmt.Errorf("%q is not a stamp (2006-01-02T15:04:05.000Z+0)", s)
		}
		return store.MakeStamp(uint64(ts.UnixMilli()), uint16(n)), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		if t := now.Add(-d); t.UnixMilli() > 0 {
			return store.MakeStamp(uint64(t.UnixMilli()), counter), nil
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.UnixMilli() > 0 {
		return store.MakeStamp(uint64(t.UnixMilli()), counter), nil
	}
	return 0, fmt.Errorf("%q is neither a version, a stamp, an RFC 3339 time nor a duration ago", s)
}

func historyVersion(h *store.HistoryEntry) api.HistoryVersion {
	v := api.HistoryVersion{Key: h.Key, Value: h.Value, Flags: h.Flags, Version: uint64(h.Version), Stamp: h.Version.String(),
		Origin: h.Origin, Deleted: h.Deleted, Held: h.Held, Lost: h.Lost}
	if h.RollbackOf != 0 {
		v.RollbackOf, v.RollbackOrigin = uint64(h.RollbackOf), h.RollbackOrigin
	}
	return v
}

func (a *API) handleHistory(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		a.fail(w, r, http.StatusMethodNotAllowed, errors.New("method "+r.Method+" not allowed"))
		return
	}
	q, err := parseHistoryRequest(r.URL, time.Now())
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, err)
		return
	}
	z := authorizer(r.Context())
	if !q.Prefix && !z.KeyRead(q.Key) {
		a.deny(w, r, z.Description(), z.Denied(acl.ResourceKey, acl.Read, q.Key))
		return
	}
	limit := q.Limit
	q.Limit = 0 // after the filter
	hs, err := a.history.History(q)
	if err != nil {
		a.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	out := make([]api.HistoryVersion, 0, min(len(hs), limit))
	filtered := false
	for i := range hs {
		if !z.KeyRead(hs[i].Key) {
			filtered = true
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, historyVersion(&hs[i]))
	}
	if filtered && !z.Anonymous() {
		w.Header().Set("X-Consul-Results-Filtered-By-ACLs", "true")
	}
	writeJSON(w, out)
}

// decodeRollbackRequest decodes and checks a rollback body. It is a pure
// function of the bytes, so it is fuzzed.
func decodeRollbackRequest(body []byte) (api.RollbackRequest, error) {
	var req api.RollbackRequest
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&req); err != nil {
		return req, badRequest("malformed rollback request: %v", err)
	}
	if d.More() {
		return req, badRequest("malformed rollback request: more than one JSON value")
	}
	switch {
	case !req.Prefix && store.CheckKey(req.Key) != nil:
		return req, badRequest("key %q: %v", req.Key, store.CheckKey(req.Key))
	case req.Prefix && !utf8.ValidString(req.Key):
		return req, badRequest("prefix %q: keys must be valid UTF-8", req.Key)
	case req.To == "":
		return req, badRequest("missing To: the version (or, for a prefix, the time) to roll back to")
	case len(req.Origin) > 256 || !utf8.ValidString(req.Origin):
		return req, badRequest("origin %q: not a node id", req.Origin)
	}
	return req, nil
}

func (a *API) handleRollback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		w.Header().Set("Allow", "PUT, POST")
		a.fail(w, r, http.StatusMethodNotAllowed, errors.New("method "+r.Method+" not allowed"))
		return
	}
	z := authorizer(r.Context())
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRollbackBody+1))
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, fmt.Errorf("reading body: %w", err))
		return
	}
	if len(body) > MaxRollbackBody {
		a.fail(w, r, http.StatusBadRequest, fmt.Errorf("rollback request larger than %d bytes", MaxRollbackBody))
		return
	}
	req, err := decodeRollbackRequest(body)
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, err)
		return
	}
	if !req.Prefix && !z.KeyWrite(req.Key) {
		a.deny(w, r, z.Description(), z.Denied(acl.ResourceKey, acl.Write, req.Key))
		return
	}
	if req.Prefix && !z.KeyWritePrefix(req.Key) {
		a.deny(w, r, z.Description(), z.Denied(acl.ResourceKey, acl.Write, req.Key))
		return
	}
	var (
		changes []store.RollbackChange
		unknown []string
	)
	to, err := parseStampArg(req.To, time.Now(), req.Prefix)
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, fmt.Errorf("to: %w", err))
		return
	}
	if req.Prefix {
		changes, unknown, err = a.history.PlanPrefixRollback(req.Key, to)
	} else {
		changes, err = a.history.PlanRollback(req.Key, to, req.Origin)
	}
	switch {
	case errors.Is(err, store.ErrNoVersion) || errors.Is(err, store.ErrAmbiguousVersion):
		a.fail(w, r, http.StatusNotFound, err)
		return
	case err != nil:
		a.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	for i := range changes {
		if c := &changes[i]; !c.To.Deleted && !a.typed(w, c.Key, c.To.Value) {
			return
		}
	}
	res := api.RollbackResult{Changes: make([]api.RollbackChange, len(changes)), Unknown: unknown}
	for i := range changes {
		res.Changes[i] = rollbackChange(&changes[i])
	}
	if !req.Dry && len(changes) > 0 {
		written, err := a.history.Rollback(changes)
		switch {
		case errors.Is(err, store.ErrRollbackConflict):
			a.fail(w, r, http.StatusConflict, err)
			return
		case diskFull(err):
			a.fail(w, r, http.StatusInsufficientStorage, err)
			return
		case err != nil:
			a.fail(w, r, http.StatusInternalServerError, err)
			return
		}
		for i := range written {
			res.Changes[i].Written = uint64(written[i].Version)
		}
		res.Applied = true
	}
	writeJSON(w, res)
}

func rollbackChange(c *store.RollbackChange) api.RollbackChange {
	out := api.RollbackChange{Key: c.Key, Delete: c.To.Deleted, To: uint64(c.To.Version), ToStamp: c.To.Version.String(),
		ToOrigin: c.To.Origin}
	if !c.To.Deleted {
		out.Value, out.Flags = c.To.Value, c.To.Flags
	}
	if c.Found {
		out.From, out.FromDeleted = uint64(c.Current.Version), c.Current.Deleted
		if !c.Current.Deleted {
			out.FromValue = c.Current.Value
		}
	}
	if c.To.Deleted && c.To.Version == 0 {
		out.ToStamp = "" // created after the time: no version to name
	}
	return out
}
