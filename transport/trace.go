package transport

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
)

// Traceparent is a W3C trace context (https://www.w3.org/TR/trace-context/)
// in its version 00 form: 00-<trace id>-<parent id>-<flags>.
type Traceparent struct {
	TraceID  [16]byte
	ParentID [8]byte
	Flags    byte
}

// ParseTraceparent parses a version 00 traceparent; ok is false for
// anything malformed, including all-zero ids.
func ParseTraceparent(s string) (tp Traceparent, ok bool) {
	if len(s) != 55 || s[0] != '0' || s[1] != '0' || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return tp, false
	}
	if !decodeLowerHex(tp.TraceID[:], s[3:35]) || !decodeLowerHex(tp.ParentID[:], s[36:52]) {
		return tp, false
	}
	var f [1]byte
	if !decodeLowerHex(f[:], s[53:55]) {
		return tp, false
	}
	tp.Flags = f[0]
	if tp.TraceID == ([16]byte{}) || tp.ParentID == ([8]byte{}) {
		return tp, false
	}
	return tp, true
}

func decodeLowerHex(dst []byte, s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	_, err := hex.Decode(dst, []byte(s))
	return err == nil
}

// String renders the traceparent header value.
func (tp Traceparent) String() string {
	var b [55]byte
	b[0], b[1], b[2] = '0', '0', '-'
	hex.Encode(b[3:35], tp.TraceID[:])
	b[35] = '-'
	hex.Encode(b[36:52], tp.ParentID[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{tp.Flags})
	return string(b[:])
}

// TraceIDString returns the trace id in hex, as logs show it.
func (tp Traceparent) TraceIDString() string { return hex.EncodeToString(tp.TraceID[:]) }

// ContextWithTraceparent returns ctx carrying tp as the current span.
// Calls made with it become its children.
func ContextWithTraceparent(ctx context.Context, tp Traceparent) context.Context {
	return context.WithValue(ctx, traceparentKey, tp)
}

// TraceparentFromContext returns the current span: one set with
// ContextWithTraceparent, or else, inside a server handler, the caller's.
func TraceparentFromContext(ctx context.Context) (Traceparent, bool) {
	if tp, ok := ctx.Value(traceparentKey).(Traceparent); ok {
		return tp, true
	}
	if ci, ok := CallInfoFromContext(ctx); ok && ci.Server {
		return ParseTraceparent(ci.Header.Traceparent)
	}
	return Traceparent{}, false
}

// NewTrace starts a trace: a random trace id and span id, and flags.
func NewTrace(flags byte) Traceparent {
	tp := Traceparent{Flags: flags}
	putRandom(tp.TraceID[:])
	putRandom(tp.ParentID[:])
	return tp
}

// Child returns the traceparent of a new span under tp: its trace id
// and flags, a random span id.
func (tp Traceparent) Child() Traceparent {
	putRandom(tp.ParentID[:])
	return tp
}

// Trace returns the trace context interceptor. On the client it sends a
// new span id under the current trace (from the context), or starts a new
// trace with the sampled flag clear, unless the call was given its span
// (WithSpan), which it sends as it is. On the server it drops a malformed
// traceparent, so handlers and logs only ever see valid ones.
func Trace() Interceptor {
	return func(ctx context.Context, call *CallInfo, next Invoker) error {
		if call.Server {
			if _, ok := ParseTraceparent(call.Header.Traceparent); !ok {
				call.Header.Traceparent = ""
			}
			return next(ctx, call)
		}
		if call.Header.Traceparent != "" { // WithSpan: always valid
			return next(ctx, call)
		}
		tp, ok := TraceparentFromContext(ctx)
		if !ok {
			tp = NewTrace(0)
		}
		call.Header.Traceparent = tp.Child().String()
		return next(ctx, call)
	}
}

// putRandom fills b with non-zero random bytes (ids need not be secret).
func putRandom(b []byte) {
	for {
		for i := 0; i < len(b); i += 8 {
			v := rand.Uint64()
			for j := i; j < len(b) && j < i+8; j++ {
				b[j] = byte(v)
				v >>= 8
			}
		}
		for _, x := range b {
			if x != 0 {
				return
			}
		}
	}
}
