package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits and defaults of the KV endpoint, as Consul's.
const (
	// MaxValueSize is the largest PUT body accepted; larger ones get 413.
	MaxValueSize = 512 << 10
	// DefaultWait is a blocking query's wait when the client names none.
	DefaultWait = 5 * time.Minute
	// MaxWait caps a blocking query's wait.
	MaxWait = 10 * time.Minute
)

// errBadRequest marks errors answered with 400.
var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errBadRequest}, args...)...)
}

// kvRequest is a parsed /v1/kv/ request.
type kvRequest struct {
	method    string
	key       string
	recurse   bool
	keys      bool
	raw       bool
	separator string
	flags     uint64
	cas       *uint64
	read
}

// read holds the parameters every read takes.
type read struct {
	dc    string        // datacenter asked for; "" for the agent's
	index uint64        // blocking query: wait past this index
	wait  time.Duration // blocking query: how long at most
}

// param reads one of the parameters every read takes, and refuses any
// other.
func (r *read) param(name, v string) error {
	var err error
	switch name {
	case "index":
		if r.index, err = strconv.ParseUint(v, 10, 64); err != nil {
			return badRequest("invalid index %q", v)
		}
	case "wait":
		r.wait, err = parseWait(v)
		return err
	case "dc":
		r.dc = v
	case "stale", "consistent", "cached", "pretty", "token":
		// Accepted for compatibility: reads are always served locally.
	default:
		return badRequest("unsupported query parameter %q", name)
	}
	return nil
}

// parseKVRequest checks a /v1/kv/ request's method, key and query
// parameters. It is a pure function of the request line, so it is fuzzed.
func parseKVRequest(method string, u *url.URL) (kvRequest, error) {
	req := kvRequest{method: method, key: strings.TrimPrefix(u.Path, "/v1/kv/")}
	if !strings.HasPrefix(u.Path, "/v1/kv/") {
		return req, badRequest("not a KV path: %q", u.Path)
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
	default:
		return req, fmt.Errorf("method %s not allowed", method)
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
		case "keys":
			req.keys = true
		case "raw":
			req.raw = true
		case "separator":
			req.separator = v
		case "flags":
			if req.flags, err = strconv.ParseUint(v, 10, 64); err != nil {
				return req, badRequest("invalid flags %q: must be an unsigned 64-bit integer", v)
			}
		case "cas":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return req, badRequest("invalid cas %q: must be an unsigned 64-bit index", v)
			}
			req.cas = &n
		case "acquire", "release", "session":
			return req, badRequest("%s: sessions and locks are not supported by edgeplane", name)
		case "ns", "partition":
			return req, badRequest("%s: namespaces and admin partitions are not supported by edgeplane", name)
		case "near", "filter":
			// Accepted for compatibility.
		default:
			if err := req.read.param(name, v); err != nil {
				return req, err
			}
		}
	}
	if !utf8.ValidString(req.key) {
		// The store holds none: the replication wire and JSON carry keys
		// as UTF-8 text.
		return req, badRequest("key %q: keys must be valid UTF-8", req.key)
	}
	if req.key == "" && !req.recurse && !(method == http.MethodGet && req.keys) {
		return req, badRequest("missing key name")
	}
	if req.wait == 0 {
		req.wait = DefaultWait
	}
	return req, nil
}

// parseWait parses a blocking query's wait, a Go duration ("10s") or a bare
// number of seconds, capped at MaxWait.
func parseWait(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.ParseUint(v, 10, 32)
		if nerr != nil {
			return 0, badRequest("invalid wait %q: use a duration such as 30s", v)
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return 0, badRequest("invalid wait %q: negative", v)
	}
	return min(d, MaxWait), nil
}
