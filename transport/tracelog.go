package transport

import (
	"context"
	"log/slog"
)

// TraceIDKey is the attribute under which log lines carry the trace id.
const TraceIDKey = "trace_id"

// TraceLog returns a slog.Handler that passes records to h, adding
// trace_id=<hex> to those logged with a context that carries a trace
// (TraceparentFromContext): inside an RPC handler the caller's, else one
// set with ContextWithTraceparent. A record that has a trace_id already,
// as Logging's lines do, is passed as it is. Log with the *Context
// methods (InfoContext, LogAttrs) and the call's context for its lines to
// carry the id. The attribute is added at the top level unless a group
// was opened with WithGroup, as slog adds any record attribute.
func TraceLog(h slog.Handler) slog.Handler {
	if t, ok := h.(traceLog); ok {
		return t
	}
	return traceLog{h}
}

type traceLog struct{ h slog.Handler }

func (t traceLog) Enabled(ctx context.Context, l slog.Level) bool { return t.h.Enabled(ctx, l) }

func (t traceLog) Handle(ctx context.Context, r slog.Record) error {
	if tp, ok := TraceparentFromContext(ctx); ok && !hasTraceID(r) {
		r = r.Clone()
		r.AddAttrs(slog.String(TraceIDKey, tp.TraceIDString()))
	}
	return t.h.Handle(ctx, r)
}

func (t traceLog) WithAttrs(as []slog.Attr) slog.Handler { return traceLog{t.h.WithAttrs(as)} }

func (t traceLog) WithGroup(name string) slog.Handler { return traceLog{t.h.WithGroup(name)} }

// Unwrap returns the handler records are passed to.
func (t traceLog) Unwrap() slog.Handler { return t.h }

// hasTraceID reports whether r has a top-level trace_id attribute.
func hasTraceID(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == TraceIDKey
		return !found
	})
	return found
}
