package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTraceLogInHandler: a line an RPC handler logs with its call's
// context carries the caller's trace id, in text and in JSON; a line
// logged without the context, or outside any trace, carries none.
func TestTraceLogInHandler(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			var mu sync.Mutex
			w := &lockedWriter{w: &buf, mu: &mu}
			var h slog.Handler = slog.NewTextHandler(w, nil)
			if format == "json" {
				h = slog.NewJSONHandler(w, nil)
			}
			log := slog.New(TraceLog(h))
			srv := startServer(t, ServerConfig{Interceptors: []Interceptor{Trace()}})
			srv.Handle("logs", Unary(func(ctx context.Context, m *Msg) (*Msg, error) {
				log.InfoContext(ctx, "handled", "text", m.Text)
				log.Info("no context", "text", m.Text)
				return m, nil
			}))
			c := newClient(t, ClientConfig{Interceptors: []Interceptor{Trace()}})
			parent, _ := ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
			ctx := ctxTimeout(t, 10*time.Second)
			if err := c.Call(ContextWithTraceparent(ctx, parent), srv.peer("server"), "logs", &Msg{Text: "traced"}, nil); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			mu.Unlock()
			if len(lines) != 2 {
				t.Fatalf("logged %d lines, want 2:\n%s", len(lines), strings.Join(lines, "\n"))
			}
			want := parent.TraceIDString()
			switch format {
			case "text":
				if !strings.Contains(lines[0], "msg=handled") || !strings.Contains(lines[0], " trace_id="+want) {
					t.Errorf("the handler's line lacks trace_id=%s: %s", want, lines[0])
				}
			case "json":
				var rec map[string]any
				if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
					t.Fatal(err)
				}
				if rec["msg"] != "handled" || rec[TraceIDKey] != want {
					t.Errorf("the handler's line lacks \"trace_id\":%q: %s", want, lines[0])
				}
			}
			if strings.Contains(lines[1], "trace_id") {
				t.Errorf("a line logged without the call's context has a trace id: %s", lines[1])
			}
		})
	}
}

// TestTraceLogAddsOnce: a record that has a trace_id keeps its own, as
// Logging writes it; with attributes and outside a trace nothing is added.
func TestTraceLogAddsOnce(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(TraceLog(slog.NewTextHandler(&buf, nil))).With("component", "x")
	tp, _ := ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	ctx := ContextWithTraceparent(context.Background(), tp)
	log.InfoContext(ctx, "own", TraceIDKey, "given")
	log.InfoContext(ctx, "added")
	log.InfoContext(context.Background(), "untraced")
	out := buf.String()
	if strings.Count(out, "trace_id=") != 2 || !strings.Contains(out, "msg=own component=x trace_id=given\n") ||
		!strings.Contains(out, "msg=added component=x trace_id="+tp.TraceIDString()+"\n") || !strings.Contains(out, "msg=untraced component=x\n") {
		t.Fatalf("log:\n%s", out)
	}
	// Wrapping twice adds once; Unwrap returns the handler wrapped.
	inner := slog.NewTextHandler(&buf, nil)
	if w := TraceLog(TraceLog(inner)); w.(interface{ Unwrap() slog.Handler }).Unwrap() != inner {
		t.Fatal("TraceLog wrapped twice")
	}
}

// TestLoggingLineCarriesOneTraceID: the interceptor's own line, through a
// TraceLog handler, carries the trace id once.
func TestLoggingLineCarriesOneTraceID(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(TraceLog(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	srv := startServer(t, ServerConfig{Interceptors: []Interceptor{Trace(), Logging(logger)}})
	c := newClient(t, ClientConfig{Interceptors: []Interceptor{Trace(), Logging(logger)}})
	if err := c.Call(ctxTimeout(t, 10*time.Second), srv.peer("server"), "echo", &Msg{}, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if strings.Count(line, "trace_id=") != 1 {
			t.Errorf("line with %d trace ids: %s", strings.Count(line, "trace_id="), line)
		}
	}
}
