package tracing

import (
	"encoding/binary"
	"math"
	"net/http"
	"strings"

	"github.com/edgeplane/edgeplane/transport"
)

// The trace context headers (W3C), in canonical form.
const (
	TraceparentHeader = "Traceparent"
	TracestateHeader  = "Tracestate"
)

// Bounds of a propagated tracestate (W3C trace context, 3.3.1.5).
const (
	maxStateMembers   = 32
	maxStateLen       = 512
	maxStateMemberLen = 128
	// maxStateInput is the most tracestate text that is parsed at all;
	// past it the header is dropped unread.
	maxStateInput = 8 << 10
)

// Context is a call's trace context: the span it continues (the parent
// of the next span) and the tracestate.
type Context struct {
	transport.Traceparent
	// State is the tracestate, valid and within bounds.
	State string
	// Remote: the parent span came with the call; false for a new trace,
	// whose spans have no parent.
	Remote bool
}

// Sampled reports the sampled flag.
func (c Context) Sampled() bool { return c.Flags&1 != 0 }

// FromHeader reads an application's trace context from its request
// header: a valid traceparent (exactly one) and its tracestate. Without
// one it starts a new trace, sampled per ratio, and the tracestate is
// dropped. It never fails: what is malformed is replaced.
func FromHeader(h http.Header, ratio float64) Context {
	if v := h.Values(TraceparentHeader); len(v) == 1 {
		if tp, ok := transport.ParseTraceparent(strings.TrimSpace(v[0])); ok {
			return Context{Traceparent: tp, State: SanitizeState(h.Values(TracestateHeader)), Remote: true}
		}
	}
	return NewRoot(ratio)
}

// FromParent continues a traceparent that came over the mesh, with the
// tracestate that came beside it; ok false starts a new trace as
// FromHeader does.
func FromParent(tp transport.Traceparent, ok bool, state []string, ratio float64) Context {
	if !ok {
		return NewRoot(ratio)
	}
	return Context{Traceparent: tp, State: SanitizeState(state), Remote: true}
}

// NewRoot starts a new trace, sampled when its id falls under ratio.
func NewRoot(ratio float64) Context {
	c := Context{Traceparent: transport.NewTrace(0)}
	c.ParentID = [8]byte{} // no parent
	if SampleByRatio(c.TraceID, ratio) {
		c.Flags = 1
	}
	return c
}

// SampleByRatio is OpenTelemetry's TraceIDRatioBased decision: the trace
// id's last 8 bytes, shifted right once, fall under ratio × 2^63. Every
// agent decides the same for a trace id.
func SampleByRatio(id [16]byte, ratio float64) bool {
	switch {
	case ratio >= 1:
		return true
	case !(ratio > 0):
		return false
	}
	bound := uint64(ratio * (1 << 63))
	return binary.BigEndian.Uint64(id[8:])>>1 < bound
}

// ValidRatio reports whether r is a sample ratio: from 0 to 1.
func ValidRatio(r float64) bool { return r >= 0 && r <= 1 && !math.IsNaN(r) }

// Child returns the traceparent of a new span under c: c's trace id and
// flags, a new span id.
func (c Context) Child() transport.Traceparent {
	tp := c.Traceparent
	tp.Flags &= 1
	return tp.Child()
}

// SanitizeState returns the tracestate of the given header values (one
// list, however many lines it came in), valid and bounded: "" when it is
// malformed, has a key twice or is too long to read; past 32 members or
// 512 bytes, members over 128 bytes are left out first, then members from
// the end.
func SanitizeState(values []string) string {
	n := 0
	for _, v := range values {
		n += len(v) + 1
	}
	if n == 0 || n > maxStateInput {
		return ""
	}
	var members []string
	seen := make(map[string]bool)
	for _, v := range values {
		for m := range strings.SplitSeq(v, ",") {
			m = strings.Trim(m, " \t")
			if m == "" {
				continue
			}
			k, val, ok := strings.Cut(m, "=")
			if !ok || !validStateKey(k) || !validStateValue(val) || seen[k] {
				return ""
			}
			seen[k] = true
			members = append(members, m)
		}
	}
	if len(members) > maxStateMembers*4 { // far past the bound: not worth trimming
		return ""
	}
	size := func(ms []string) int {
		s := 0
		for _, m := range ms {
			s += len(m) + 1
		}
		return s - 1
	}
	if len(members) > maxStateMembers || size(members) > maxStateLen {
		kept := members[:0:0]
		for _, m := range members {
			if len(m) <= maxStateMemberLen {
				kept = append(kept, m)
			}
		}
		members = kept
		for len(members) > maxStateMembers || len(members) > 0 && size(members) > maxStateLen {
			members = members[:len(members)-1]
		}
	}
	return strings.Join(members, ",")
}

// validStateKey: a simple key (lcalpha, then up to 255 of lcalpha, digit,
// _ - * /) or a multi-tenant one, tenant@system (tenant: lcalpha or digit,
// then up to 240; system: lcalpha, then up to 13).
func validStateKey(k string) bool {
	tenant, system, multi := strings.Cut(k, "@")
	if !multi {
		return len(k) >= 1 && len(k) <= 256 && isLower(k[0]) && keyChars(k[1:])
	}
	return len(tenant) >= 1 && len(tenant) <= 241 && (isLower(tenant[0]) || isDigit(tenant[0])) && keyChars(tenant[1:]) &&
		len(system) >= 1 && len(system) <= 14 && isLower(system[0]) && keyChars(system[1:])
}

func keyChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLower(c) && !isDigit(c) && c != '_' && c != '-' && c != '*' && c != '/' {
			return false
		}
	}
	return true
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validStateValue: 1 to 256 printable ASCII characters but ',' and '=',
// the last not a space.
func validStateValue(v string) bool {
	if len(v) == 0 || len(v) > 256 || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e || c == ',' || c == '=' {
			return false
		}
	}
	return true
}
