// Package logstream copies the agent's log records to live streams, as
// Consul's /v1/agent/monitor serves them: each stream has its own level
// and format, independent of the agent's, and a bounded queue. A reader
// that falls behind loses lines, learns how many, and never slows the
// agent: a record is formatted and queued without waiting.
package logstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// DefaultQueue is the number of lines a stream holds for its reader.
const DefaultQueue = 512

// ErrClosed is returned by Next once the stream is closed.
var ErrClosed = errors.New("logstream: stream closed")

// Hub is a slog.Handler: it passes records to a base handler at the
// base's level, and copies them to the streams subscribed at theirs. A
// Hub and the handlers derived from it (WithAttrs, WithGroup) share their
// streams.
type Hub struct {
	base slog.Handler
	ops  []op // attributes and groups added since the root, in order
	s    *streams
}

// op is one WithAttrs or WithGroup, replayed on each stream's formatter.
type op struct {
	attrs []slog.Attr
	group string
}

type streams struct {
	mu      sync.Mutex
	set     map[*Stream]struct{}
	min     atomic.Int64 // lowest level any stream wants; maxLevel when none
	dropped atomic.Uint64
}

const maxLevel = int64(1 << 40)

// New returns a hub writing to base.
func New(base slog.Handler) *Hub {
	h := &Hub{base: base, s: &streams{set: map[*Stream]struct{}{}}}
	h.s.min.Store(maxLevel)
	return h
}

// Enabled reports whether the base handler or a stream wants level.
func (h *Hub) Enabled(ctx context.Context, level slog.Level) bool {
	return int64(level) >= h.s.min.Load() || h.base.Enabled(ctx, level)
}

// Handle writes r to the base handler if its level admits it, and queues
// it on every stream whose level does.
func (h *Hub) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.base.Enabled(ctx, r.Level) {
		err = h.base.Handle(ctx, r)
	}
	if int64(r.Level) < h.s.min.Load() {
		return err
	}
	h.s.mu.Lock()
	targets := make([]*Stream, 0, len(h.s.set))
	for st := range h.s.set {
		if r.Level >= st.level {
			targets = append(targets, st)
		}
	}
	h.s.mu.Unlock()
	for _, st := range targets {
		st.offer(h.format(ctx, st, r))
	}
	return err
}

// format renders r as the stream's format would, with the attributes and
// groups of this handler.
func (h *Hub) format(ctx context.Context, st *Stream, r slog.Record) []byte {
	var buf bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.Level(-1 << 20)}
	var f slog.Handler
	if st.json {
		f = slog.NewJSONHandler(&buf, opts)
	} else {
		f = slog.NewTextHandler(&buf, opts)
	}
	for _, o := range h.ops {
		if o.group != "" {
			f = f.WithGroup(o.group)
		} else {
			f = f.WithAttrs(o.attrs)
		}
	}
	_ = f.Handle(ctx, r)
	return buf.Bytes()
}

// WithAttrs returns a handler adding attrs, to the base and the streams.
func (h *Hub) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Hub{base: h.base.WithAttrs(attrs), ops: append(h.ops[:len(h.ops):len(h.ops)], op{attrs: attrs}), s: h.s}
}

// WithGroup returns a handler opening group, in the base and the streams.
func (h *Hub) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &Hub{base: h.base.WithGroup(name), ops: append(h.ops[:len(h.ops):len(h.ops)], op{group: name}), s: h.s}
}

// Subscribe opens a stream of the records at level and above, formatted
// as JSON or as text, holding up to queue lines (DefaultQueue when 0).
// Close it when done.
func (h *Hub) Subscribe(level slog.Level, json bool, queue int) *Stream {
	if queue <= 0 {
		queue = DefaultQueue
	}
	st := &Stream{level: level, json: json, lines: make(chan []byte, queue), done: make(chan struct{}), s: h.s}
	h.s.mu.Lock()
	h.s.set[st] = struct{}{}
	h.s.updateMin()
	h.s.mu.Unlock()
	return st
}

// Streams returns the number of open streams.
func (h *Hub) Streams() int {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	return len(h.s.set)
}

// Dropped returns the lines dropped for slow readers, over all streams.
func (h *Hub) Dropped() uint64 { return h.s.dropped.Load() }

// updateMin recomputes the lowest level wanted. s.mu is held.
func (s *streams) updateMin() {
	min := maxLevel
	for st := range s.set {
		if l := int64(st.level); l < min {
			min = l
		}
	}
	s.min.Store(min)
}

// Stream is one reader's queue of formatted log lines.
type Stream struct {
	level   slog.Level
	json    bool
	lines   chan []byte
	dropped atomic.Uint64 // since the reader last heard of drops
	once    sync.Once
	done    chan struct{}
	s       *streams
}

// offer queues a line, or drops and counts it when the queue is full.
func (st *Stream) offer(line []byte) {
	select {
	case st.lines <- line:
	default:
		st.dropped.Add(1)
		st.s.dropped.Add(1)
	}
}

// Next returns the next line (ending in a newline), waiting for one until
// ctx ends or the stream is closed. When lines were dropped since the
// last call, it first returns a line saying how many.
func (st *Stream) Next(ctx context.Context) ([]byte, error) {
	if n := st.dropped.Swap(0); n > 0 {
		return dropMarker(n, st.json), nil
	}
	select {
	case line := <-st.lines:
		return line, nil
	case <-st.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func dropMarker(n uint64, json bool) []byte {
	msg := fmt.Sprintf("dropped %d log lines: the reader fell behind", n)
	if json {
		return fmt.Appendf(nil, "{\"level\":\"WARN\",\"msg\":%q,\"dropped\":%d}\n", msg, n)
	}
	return fmt.Appendf(nil, "level=WARN msg=%q dropped=%d\n", msg, n)
}

// Close ends the stream; the hub stops copying records to it.
func (st *Stream) Close() {
	st.once.Do(func() {
		st.s.mu.Lock()
		delete(st.s.set, st)
		st.s.updateMin()
		st.s.mu.Unlock()
		close(st.done)
	})
}
