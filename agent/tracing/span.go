package tracing

import (
	"time"

	"github.com/edgeplane/edgeplane/transport"
)

// Kind is a span's kind, with OTLP's numbers.
type Kind int32

// The kinds the proxy makes.
const (
	Server Kind = 2
	Client Kind = 3
)

// Attr is one attribute of a span: a string, or an integer when IsInt.
type Attr struct {
	Key   string
	Str   string
	Int   int64
	IsInt bool
}

// String returns a string attribute.
func String(k, v string) Attr { return Attr{Key: k, Str: v} }

// Int returns an integer attribute.
func Int(k string, v int64) Attr { return Attr{Key: k, Int: v, IsInt: true} }

// Span is one finished span.
type Span struct {
	transport.Traceparent // trace id, this span's id (ParentID), flags
	// Parent is the parent span's id; zero for a root.
	Parent [8]byte
	State  string
	Name   string
	Kind   Kind
	Start  time.Time
	End    time.Time
	Attrs  []Attr
	// Error marks a failed span; Message says why.
	Error   bool
	Message string
}

// Start begins a span of the given kind under c. Its Traceparent is what
// the next hop receives as its parent.
func Start(c Context, kind Kind, name string, now time.Time) *Span {
	s := &Span{Traceparent: c.Child(), State: c.State, Name: name, Kind: kind, Start: now}
	if c.Remote {
		s.Parent = c.ParentID
	}
	return s
}

// Context is the trace context of the span's children.
func (s *Span) Context() Context {
	return Context{Traceparent: s.Traceparent, State: s.State, Remote: true}
}

// Sampled reports whether the span is to be recorded.
func (s *Span) Sampled() bool { return s.Flags&1 != 0 }
