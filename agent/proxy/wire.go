package proxy

import (
	"net/http"
	"net/textproto"
	"strings"
)

// MethodHTTP carries one HTTP request to an instance registered on the
// serving agent: a server-streaming call whose request is the whole HTTP
// request (body included, up to MaxRequestBody) and whose answer is a
// response head, then the response body in chunks of at most ChunkSize.
const MethodHTTP = "edgeplane.proxy.http"

// Bounds of what one call carries.
const (
	// MaxRequestBody bounds a proxied request's body: it travels in the
	// call's one request message, and is kept for a retry. A larger
	// body is refused with 413.
	MaxRequestBody = 1 << 20
	// ChunkSize is the most response body one message carries.
	ChunkSize = 32 << 10
	// maxHeaderBytes bounds a request's or response's header fields.
	maxHeaderBytes = 64 << 10
)

// httpRequest is MethodHTTP's request. It names the instance by its
// service and ID on the serving node; the serving agent dials the address
// it registered, never one from the caller.
type httpRequest struct {
	// Caller is the calling service as the calling node claims it.
	Caller string `cbor:"1,keyasint"`
	// Service and Instance name the target instance.
	Service  string `cbor:"2,keyasint"`
	Instance string `cbor:"3,keyasint"`
	Method   string `cbor:"4,keyasint"`
	// URI is the request target, path and query ("/a?b=c").
	URI    string              `cbor:"5,keyasint"`
	Header map[string][]string `cbor:"6,keyasint,omitempty"`
	Host   string              `cbor:"7,keyasint,omitempty"`
	Body   []byte              `cbor:"8,keyasint,omitempty"`
}

// httpMessage is one message of MethodHTTP's answer: the first is a head
// (Status set, or Refused), the others body chunks.
type httpMessage struct {
	Status int                 `cbor:"1,keyasint,omitempty"`
	Header map[string][]string `cbor:"2,keyasint,omitempty"`
	Body   []byte              `cbor:"3,keyasint,omitempty"`
	// Refused is set when the serving agent did not hand the request to
	// the instance: an ErrorKind. The request provably never reached the
	// application and may be sent elsewhere.
	Refused string `cbor:"4,keyasint,omitempty"`
}

// ErrorKind is the value of ErrorHeader on a response the proxy made
// rather than the application.
type ErrorKind string

// The proxy's own errors, as X-Edgeplane-Error reports them.
const (
	NoHealthyUpstream ErrorKind = "no-healthy-upstream" // 503: no candidate instance
	CircuitOpen       ErrorKind = "circuit-open"        // 503: every candidate's breaker is open
	Timeout           ErrorKind = "timeout"             // 504: the policy's timeout ran out
	Denied            ErrorKind = "denied"              // 403: the destination refused the caller
	Overloaded        ErrorKind = "overloaded"          // 503: max_concurrent calls in flight
	Unreachable       ErrorKind = "unreachable"         // 502: the instance or its agent failed the call
	TooLarge          ErrorKind = "too-large"           // 413: the request body passed MaxRequestBody
	NotLocal          ErrorKind = "not-local"           // 503: the instance is not registered on the destination
)

// ErrorHeader marks the proxy's own error responses.
const ErrorHeader = "X-Edgeplane-Error"

// The caller identity headers the destination sets for the instance; any
// header of the prefix the application sent is removed first.
const (
	CallerPrefix      = "Edgeplane-Caller-"
	CallerServiceHdr  = "Edgeplane-Caller-Service"
	CallerNodeHdr     = "Edgeplane-Caller-Node"
	CallerSiteHdr     = "Edgeplane-Caller-Site"
	idempotencyKeyHdr = "Idempotency-Key"
)

// hopByHop are the headers of one connection, never forwarded (RFC 9110
// 7.6.1), besides those the Connection header names.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// forwardable returns a copy of h without hop-by-hop headers.
func forwardable(h http.Header) map[string][]string {
	out := make(map[string][]string, len(h))
	for k, v := range h {
		out[k] = v
	}
	for _, c := range h.Values("Connection") {
		for f := range strings.SplitSeq(c, ",") {
			delete(out, textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(f)))
		}
	}
	for _, k := range hopByHop {
		delete(out, k)
	}
	return out
}

// headerSize is the bytes of h's names and values.
func headerSize(h map[string][]string) int {
	n := 0
	for k, vs := range h {
		n += len(k)
		for _, v := range vs {
			n += len(v)
		}
	}
	return n
}

// withCaller returns h, canonicalised, without the caller headers the
// application sent, and with the caller's identity set.
func withCaller(h map[string][]string, service, node, site string) http.Header {
	out := make(http.Header, len(h)+3)
	for k, v := range h {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if strings.HasPrefix(ck, CallerPrefix) {
			continue
		}
		out[ck] = append(out[ck], v...)
	}
	for _, k := range hopByHop {
		delete(out, k)
	}
	out.Set(CallerServiceHdr, service)
	out.Set(CallerNodeHdr, node)
	if site != "" {
		out.Set(CallerSiteHdr, site)
	}
	return out
}

// idempotent reports whether a request may be sent twice: its method is
// idempotent, or it carries an Idempotency-Key.
func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return r.Header.Get(idempotencyKeyHdr) != ""
}
