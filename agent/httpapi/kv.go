package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

func (a *API) handleKV(w http.ResponseWriter, r *http.Request) {
	req, err := parseKVRequest(r.Method, r.URL)
	if err != nil {
		status := http.StatusBadRequest
		if !errors.Is(err, errBadRequest) {
			status = http.StatusMethodNotAllowed
			w.Header().Set("Allow", "GET, HEAD, PUT, DELETE")
		}
		a.fail(w, r, status, err)
		return
	}
	if a.otherDatacenter(w, req.dc) || !a.kvAllowed(w, r, req) {
		return
	}
	switch req.method {
	case http.MethodGet, http.MethodHead:
		a.kvGet(w, r.Context(), req)
	case http.MethodPut:
		a.kvPut(w, r, req)
	case http.MethodDelete:
		a.kvDelete(w, req)
	}
}

func (a *API) kvGet(w http.ResponseWriter, ctx context.Context, req kvRequest) {
	prefix := req.recurse || req.keys
	if req.index > 0 {
		wait := func(ctx context.Context, index uint64) (uint64, error) {
			return a.store.WaitIndex(ctx, req.key, prefix, index)
		}
		if !a.blockUntil(w, ctx, wait, req.index, req.wait) {
			return
		}
	}
	if prefix {
		a.kvGetPrefix(w, ctx, req)
		return
	}
	e, found, index, err := a.store.Get(req.key)
	if err != nil {
		a.fail(w, nil, http.StatusInternalServerError, err)
		return
	}
	setReadMeta(w, index)
	if !found || e.Deleted {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if req.raw {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Length", strconv.Itoa(len(e.Value)))
		w.Write(e.Value)
		return
	}
	writePairs(w, e)
}

// blockUntil takes a blocking query's slot, answering 429 and returning
// false when none is free, and blocks (block) until the index wait reads
// passes index.
func (a *API) blockUntil(w http.ResponseWriter, ctx context.Context, wait waitFunc, index uint64, d time.Duration) bool {
	free, ok := a.blockingSlot(ctx, wait, index)
	if !ok {
		a.tooManyBlocking(w)
		return false
	}
	defer free()
	a.block(ctx, wait, index, d)
	return true
}

// block waits, as a Consul blocking query, until the index wait reads
// passes index, the wait (plus up to wait/16 of jitter) runs out, the
// client goes away or the API closes. A query a change answered counts in
// blocking_woken.
func (a *API) block(ctx context.Context, waitPast waitFunc, index uint64, wait time.Duration) {
	if indexPassed(ctx, waitPast, index) {
		return
	}
	wait += rand.N(wait/16 + 1)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	stop := context.AfterFunc(a.closed, cancel)
	defer stop()
	if idx, err := waitPast(ctx, index); err == nil && idx > index {
		a.blocking.woken.Add(1)
	}
}

func (a *API) kvPut(w http.ResponseWriter, r *http.Request, req kvRequest) {
	value, ok := a.readBody(w, r, MaxValueSize)
	if !ok {
		return
	}
	if len(value) == 0 {
		value = nil
	}
	if !a.typed(w, req.key, value) {
		return
	}
	_, ok, err := a.store.CAS(req.key, value, req.flags, req.cas)
	a.writeResult(w, ok, err)
}

// readBody reads a request's body of at most limit bytes. It answers 413
// for a larger one, 400 for one that cannot be read, and then returns
// false.
func (a *API) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if r.ContentLength > limit {
		a.tooLarge(w, r.ContentLength, limit)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		a.tooLarge(w, -1, limit)
		return nil, false
	}
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, fmt.Errorf("reading body: %w", err))
		return nil, false
	}
	return body, true
}

func (a *API) tooLarge(w http.ResponseWriter, n, limit int64) {
	size := "request body"
	if n >= 0 {
		size = fmt.Sprintf("request body (%d bytes)", n)
	}
	a.fail(w, nil, http.StatusRequestEntityTooLarge, fmt.Errorf("%s too large, max size: %d bytes", size, limit))
}

func (a *API) kvDelete(w http.ResponseWriter, req kvRequest) {
	var (
		ok  = true
		err error
	)
	if req.recurse {
		_, err = a.store.DeleteTree(req.key)
	} else {
		ok, err = a.store.Delete(req.key, req.cas)
	}
	a.writeResult(w, ok, err)
}

// writeResult answers a write: true or false, 400 for a key the store
// refuses, 507 when the disk is full, 500 for another store failure.
func (a *API) writeResult(w http.ResponseWriter, ok bool, err error) {
	switch {
	case errors.Is(err, store.ErrInvalidKey):
		a.fail(w, nil, http.StatusBadRequest, err)
	case diskFull(err):
		a.fail(w, nil, http.StatusInsufficientStorage, err)
	case err != nil:
		a.fail(w, nil, http.StatusInternalServerError, err)
	default:
		writeJSON(w, ok)
	}
}

// diskFull reports a store write that failed for want of space or quota.
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// setReadMeta sets the headers Consul's clients read on every query.
func setReadMeta(w http.ResponseWriter, index uint64) {
	h := w.Header()
	h.Set("X-Consul-Index", strconv.FormatUint(index, 10))
	h.Set("X-Consul-KnownLeader", "true")
	h.Set("X-Consul-LastContact", "0")
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}
