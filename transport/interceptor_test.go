package transport

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is an interceptor that logs its name on the way in and out.
type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) ic(name string) Interceptor {
	return func(ctx context.Context, call *CallInfo, next Invoker) error {
		r.add(name + ">")
		err := next(ctx, call)
		r.add("<" + name)
		return err
	}
}

func (r *recorder) add(s string) { r.mu.Lock(); r.log = append(r.log, s); r.mu.Unlock() }

func (r *recorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.log, " ")
	r.log = nil
	return s
}

func TestInterceptorOrder(t *testing.T) {
	rec := &recorder{}
	handlerMark := func(ctx context.Context, call *CallInfo, next Invoker) error {
		err := next(ctx, call)
		rec.add("handler-ran")
		return err
	}
	srv := startServer(t, ServerConfig{Interceptors: []Interceptor{rec.ic("s1"), rec.ic("s2"), handlerMark}})
	c := newClient(t, ClientConfig{Interceptors: []Interceptor{rec.ic("c1"), rec.ic("c2")}})
	ctx := ctxTimeout(t, 5*time.Second)
	if err := c.Call(ctx, srv.peer("server"), "echo", &Msg{}, nil); err != nil {
		t.Fatal(err)
	}
	want := "c1> c2> s1> s2> handler-ran <s2 <s1 <c2 <c1"
	if got := rec.take(); got != want {
		t.Fatalf("order %q, want %q", got, want)
	}
	// An interceptor that refuses stops the chain: the handler never runs.
	refuse := func(ctx context.Context, call *CallInfo, next Invoker) error { return Errorf(PermissionDenied, "no") }
	srv2 := startServer(t, ServerConfig{Interceptors: []Interceptor{rec.ic("s1"), refuse, handlerMark}})
	wantCode(t, c.Call(ctx, srv2.peer("server"), "echo", &Msg{}, nil), PermissionDenied)
	if got := rec.take(); got != "c1> c2> s1> <s1 <c2 <c1" {
		t.Fatalf("refused call order %q", got)
	}
}

func TestMetrics(t *testing.T) {
	sm, cm := NewMetrics(), NewMetrics()
	srv := startServer(t, ServerConfig{Interceptors: []Interceptor{sm.Interceptor()}})
	c := newClient(t, ClientConfig{Interceptors: []Interceptor{cm.Interceptor()}})
	ctx := ctxTimeout(t, 5*time.Second)
	for range 5 {
		c.Call(ctx, srv.peer("server"), "echo", &Msg{}, nil)
	}
	c.Call(ctx, srv.peer("server"), "fail", &Msg{}, nil)
	c.Call(ctx, srv.peer("server"), "fail", &Msg{}, nil)
	for side, m := range map[string]*Metrics{"server": sm, "client": cm} {
		snap := m.Snapshot()
		echo, fail := snap["echo"], snap["fail"]
		if echo.Codes[OK] != 5 || echo.Calls() != 5 || fail.Codes[NotFound] != 2 || fail.Calls() != 2 {
			t.Fatalf("%s: echo %+v fail %+v", side, echo.Codes, fail.Codes)
		}
		if echo.Latency.Sum <= 0 || echo.Latency.Quantile(0.99) <= 0 {
			t.Fatalf("%s: latency %+v", side, echo.Latency)
		}
	}
}

func TestHistogramQuantile(t *testing.T) {
	m := NewMetrics()
	for i := range 100 {
		d := 80 * time.Microsecond // bucket ≤100µs
		if i >= 90 {
			d = 3 * time.Millisecond // bucket ≤5ms
		}
		m.Observe("m", OK, d)
	}
	m.Observe("m", Code(200), time.Minute) // beyond every bound; unknown code
	h := m.Snapshot()["m"].Latency
	if q := h.Quantile(0.5); q != 100*time.Microsecond {
		t.Errorf("p50 %s", q)
	}
	if q := h.Quantile(0.95); q != 5*time.Millisecond {
		t.Errorf("p95 %s", q)
	}
	if q := h.Quantile(1); q != 20*time.Second {
		t.Errorf("p100 %s", q)
	}
	if (Histogram{}).Quantile(0.5) != 0 {
		t.Error("empty histogram")
	}
	if m.Snapshot()["m"].Codes[Unknown] != 1 {
		t.Error("out-of-range code not counted as unknown")
	}
}

func TestLoggingInterceptor(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := startServer(t, ServerConfig{Interceptors: []Interceptor{Trace(), Logging(logger)}})
	c := newClient(t, ClientConfig{Interceptors: []Interceptor{Trace(), Logging(logger)}})
	ctx := ctxTimeout(t, 5*time.Second)
	c.Call(ctx, srv.peer("server"), "echo", &Msg{}, nil)
	c.Call(ctx, srv.peer("server"), "panic", &Msg{}, nil)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, want := range []string{
		"level=DEBUG msg=rpc side=client method=echo peer=server",
		"level=DEBUG msg=rpc side=server method=echo peer=client",
		"level=WARN msg=rpc side=server method=panic peer=client",
		"code=internal",
		"trace_id=",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if levelOf(NotFound) != slog.LevelInfo || levelOf(Unavailable) != slog.LevelWarn {
		t.Error("levels")
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestTracePropagates(t *testing.T) {
	srv := startServer(t, ServerConfig{Interceptors: []Interceptor{Trace()}})
	c := newClient(t, ClientConfig{Interceptors: []Interceptor{Trace()}})
	ctx := ctxTimeout(t, 5*time.Second)
	parent, _ := ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")

	var got CallInfo
	if err := c.Call(ContextWithTraceparent(ctx, parent), srv.peer("server"), "info", &Msg{}, &got); err != nil {
		t.Fatal(err)
	}
	tp, ok := ParseTraceparent(got.Header.Traceparent)
	if !ok || tp.TraceID != parent.TraceID || tp.ParentID == parent.ParentID || tp.Flags != 1 {
		t.Fatalf("server saw %q, want a child of %s", got.Header.Traceparent, parent)
	}
	// Without a parent, each call starts its own trace.
	if err := c.Call(ctx, srv.peer("server"), "info", &Msg{}, &got); err != nil {
		t.Fatal(err)
	}
	if tp, ok := ParseTraceparent(got.Header.Traceparent); !ok || tp.TraceID == parent.TraceID || tp.Flags != 0 {
		t.Fatalf("new trace %q", got.Header.Traceparent)
	}
	// A call given its span sends it as it is, whatever the context.
	own := parent
	own.ParentID = [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	if err := c.Call(ContextWithTraceparent(ctx, parent), srv.peer("server"), "info", &Msg{}, &got, WithSpan(own)); err != nil {
		t.Fatal(err)
	}
	if got.Header.Traceparent != own.String() {
		t.Fatalf("server saw %q, want the call's own span %s", got.Header.Traceparent, own)
	}
	// A malformed traceparent never reaches the handler.
	forge := func(ctx context.Context, call *CallInfo, next Invoker) error {
		call.Header.Traceparent = "00-zz"
		return next(ctx, call)
	}
	c2 := newClient(t, ClientConfig{Interceptors: []Interceptor{Trace(), forge}})
	got = CallInfo{}
	if err := c2.Call(ctx, srv.peer("server"), "info", &Msg{}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Header.Traceparent != "" {
		t.Fatalf("malformed traceparent passed: %q", got.Header.Traceparent)
	}
}

func TestParseTraceparent(t *testing.T) {
	good := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	tp, ok := ParseTraceparent(good)
	if !ok || tp.String() != good || tp.TraceIDString() != "0af7651916cd43dd8448eb211c80319c" {
		t.Fatalf("%v %v", tp, ok)
	}
	for _, bad := range []string{
		"", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
		"00-00000000000000000000000000000000-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g",
		"00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	} {
		if _, ok := ParseTraceparent(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestHLCInterceptor(t *testing.T) {
	var mu sync.Mutex
	var serverSaw, clientSaw []uint64
	serverHLC := HLC(func() uint64 { return 2000 }, func(v uint64) { mu.Lock(); serverSaw = append(serverSaw, v); mu.Unlock() })
	clientHLC := HLC(func() uint64 { return 1000 }, func(v uint64) { mu.Lock(); clientSaw = append(clientSaw, v); mu.Unlock() })
	srv := startServer(t, ServerConfig{Interceptors: []Interceptor{serverHLC}})
	c := newClient(t, ClientConfig{Interceptors: []Interceptor{clientHLC}})
	ctx := ctxTimeout(t, 5*time.Second)
	var got CallInfo
	if err := c.Call(ctx, srv.peer("server"), "info", &Msg{}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Header.HLC != 1000 {
		t.Fatalf("handler saw HLC %d", got.Header.HLC)
	}
	// Errors carry the reply clock too, and so do streams.
	c.Call(ctx, srv.peer("server"), "fail", &Msg{}, nil)
	st, err := c.Stream(ctx, srv.peer("server"), "count", &Msg{N: 2})
	if err != nil {
		t.Fatal(err)
	}
	for st.Recv(&Msg{}) == nil {
	}
	if st.ReplyHLC() != 2000 {
		t.Fatalf("stream reply HLC %d", st.ReplyHLC())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(serverSaw) != 3 || serverSaw[0] != 1000 || len(clientSaw) != 2 || clientSaw[0] != 2000 {
		t.Fatalf("server observed %v, client observed %v", serverSaw, clientSaw)
	}
}

func TestSetReplyHLCFromHandler(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	srv.Handle("stamp", func(ctx context.Context, req Decoder) (any, error) {
		SetReplyHLC(ctx, 77)
		return &Msg{}, nil
	})
	var seen uint64
	c := newClient(t, ClientConfig{Interceptors: []Interceptor{func(ctx context.Context, call *CallInfo, next Invoker) error {
		err := next(ctx, call)
		seen = call.ReplyHLC
		return err
	}}})
	if err := c.Call(ctxTimeout(t, 5*time.Second), srv.peer("server"), "stamp", &Msg{}, nil); err != nil {
		t.Fatal(err)
	}
	if seen != 77 {
		t.Fatalf("reply HLC %d", seen)
	}
}
