package watch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// maxResultBytes bounds the answer a watch reads: a keyprefix over a huge
// tree is refused rather than held (and handed to the handler) whole.
const maxResultBytes = 64 << 20

// Request is a read of the local HTTP API: a GET of Path with Query, made
// with Token, blocking until the answer's index passes Index (when not 0).
type Request struct {
	Path  string
	Query url.Values
	Index uint64
	Token string
}

// Response is the API's answer: its status, its X-Consul-Index and its
// body.
type Response struct {
	Path   string
	Status int
	Index  uint64
	Body   []byte
}

// Source answers a watch's reads as the local HTTP API does; its answers
// are what a Consul watch would read from its agent.
type Source interface {
	Get(ctx context.Context, r Request) (Response, error)
}

// HandlerSource is a Source that serves the reads in process through h,
// the agent's HTTP API handler, as a local client's GET would be served:
// the same ACL checks, blocking queries and JSON, with no socket between.
func HandlerSource(h http.Handler) Source { return handlerSource{h} }

type handlerSource struct{ h http.Handler }

func (s handlerSource) Get(ctx context.Context, r Request) (resp Response, err error) {
	q := url.Values{}
	for k, v := range r.Query {
		q[k] = v
	}
	if r.Index > 0 {
		q.Set("index", strconv.FormatUint(r.Index, 10))
	}
	u := &url.URL{Scheme: "http", Host: "127.0.0.1", Path: r.Path, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Response{}, fmt.Errorf("watch: %w", err)
	}
	req.URL = u // the path as given: keys may hold what a URL parser would clean
	req.RemoteAddr = "127.0.0.1:0"
	if r.Token != "" {
		req.Header.Set("X-Consul-Token", r.Token)
	}
	w := &recorder{header: http.Header{}}
	defer func() {
		// A handler aborts an answer it cannot finish (a read that failed
		// half way) with http.ErrAbortHandler.
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				panic(p)
			}
			resp, err = Response{}, fmt.Errorf("watch: %s: the API cut its answer short", r.Path)
		}
	}()
	s.h.ServeHTTP(w, req)
	if w.err != nil {
		return Response{}, w.err
	}
	resp = Response{Path: r.Path, Status: w.code(), Body: w.body}
	if v := w.header.Get("X-Consul-Index"); v != "" {
		if resp.Index, err = strconv.ParseUint(v, 10, 64); err != nil {
			return Response{}, fmt.Errorf("watch: %s: X-Consul-Index %q: %w", r.Path, v, err)
		}
	}
	return resp, nil
}

// recorder is the ResponseWriter a handlerSource serves into.
type recorder struct {
	header http.Header
	status int
	body   []byte
	err    error
}

var errTooLarge = errors.New("watch: the answer is larger than " + strconv.Itoa(maxResultBytes>>20) + " MiB")

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if len(w.body)+len(p) > maxResultBytes {
		w.err = errTooLarge
		return 0, errTooLarge
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

// Flush is a no-op: the whole answer is read before it is used.
func (w *recorder) Flush() {}

func (w *recorder) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
