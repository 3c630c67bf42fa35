package tracing_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/tracing"
	"github.com/edgeplane/edgeplane/agent/tracing/otlptest"
)

func newTracer(t *testing.T, cfg tracing.Config) *tracing.Tracer {
	t.Helper()
	tr, err := tracing.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// A client span and its server child reach a collector, which decodes
// them with the real OTLP schema: ids, parent link, kind, times, state,
// attributes, status and resource as made.
func TestExportDecodesWithOTLPSchema(t *testing.T) {
	col := otlptest.New(t)
	tr := newTracer(t, tracing.Config{SampleRatio: 1, Endpoint: col.Endpoint(), Interval: time.Hour,
		Resource: tracing.Resource{Attrs: []tracing.Attr{tracing.String("service.name", "edgeplane"), tracing.String("host.name", "a1")},
			Scope: "edgeplane/proxy", Version: "test"}})
	in := http.Header{}
	in.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	in.Set("Tracestate", "vendor=x")
	c := tracing.FromHeader(in, 0)
	start := time.Unix(1700000000, 123)
	client := tracing.Start(c, tracing.Client, "GET billing", start)
	client.Attrs = []tracing.Attr{tracing.String("http.request.method", "GET"), tracing.Int("http.response.status_code", 200), tracing.Int("neg", -3), tracing.String("long", strings.Repeat("x", 300))}
	client.End = start.Add(time.Millisecond)
	server := tracing.Start(client.Context(), tracing.Server, "GET billing", start.Add(time.Microsecond))
	server.End = start.Add(500 * time.Microsecond)
	server.Error, server.Message = true, "instance answered 503"
	tr.Record(client)
	tr.Record(server)
	tr.Flush(context.Background())

	got := col.Spans(t)
	if len(got) != 2 {
		t.Fatalf("collector got %d spans, want 2", len(got))
	}
	cs, ss := got[0], got[1]
	if cs.TraceID() != "0af7651916cd43dd8448eb211c80319c" || ss.TraceID() != cs.TraceID() {
		t.Errorf("trace ids %s %s", cs.TraceID(), ss.TraceID())
	}
	if cs.ParentID() != "b7ad6b7169203331" || ss.ParentID() != cs.SpanID() || cs.SpanID() == ss.SpanID() {
		t.Errorf("client %s (parent %s), server %s (parent %s)", cs.SpanID(), cs.ParentID(), ss.SpanID(), ss.ParentID())
	}
	if cs.Kind.String() != "SPAN_KIND_CLIENT" || ss.Kind.String() != "SPAN_KIND_SERVER" {
		t.Errorf("kinds %v %v", cs.Kind, ss.Kind)
	}
	if cs.StartTimeUnixNano != uint64(start.UnixNano()) || cs.EndTimeUnixNano != uint64(start.Add(time.Millisecond).UnixNano()) {
		t.Errorf("times %d %d", cs.StartTimeUnixNano, cs.EndTimeUnixNano)
	}
	if cs.TraceState != "vendor=x" || cs.Name != "GET billing" || cs.Flags&0xff != 1 {
		t.Errorf("state %q name %q flags %x", cs.TraceState, cs.Name, cs.Flags)
	}
	if cs.Attr("http.request.method") != "GET" || cs.Attr("http.response.status_code") != "200" || cs.Attr("neg") != "-3" || cs.Attr("long") != strings.Repeat("x", 300) {
		t.Errorf("attributes %v", cs.Attributes)
	}
	if ss.Status.GetCode().String() != "STATUS_CODE_ERROR" || ss.Status.GetMessage() != "instance answered 503" || cs.Status != nil {
		t.Errorf("status %v / %v", ss.Status, cs.Status)
	}
	if cs.Resource["service.name"] != "edgeplane" || cs.Resource["host.name"] != "a1" || cs.Scope != "edgeplane/proxy" {
		t.Errorf("resource %v scope %q", cs.Resource, cs.Scope)
	}
	if s := tr.Stats(); s.Exported != 2 || s.DroppedExportFailed+s.DroppedQueueFull != 0 {
		t.Errorf("stats %+v", s)
	}
}

// Spans of unsampled traces are not exported, nor counted.
func TestUnsampledNotExported(t *testing.T) {
	col := otlptest.New(t)
	tr := newTracer(t, tracing.Config{Endpoint: col.Endpoint(), Interval: time.Hour})
	s := tracing.Start(tracing.NewRoot(0), tracing.Client, "x", time.Now())
	s.End = time.Now()
	tr.Record(s)
	tr.Flush(context.Background())
	if n := len(col.Spans(t)); n != 0 || tr.Stats() != (tracing.Stats{}) {
		t.Fatalf("%d spans exported, stats %+v", n, tr.Stats())
	}
}

// With the collector down or refusing, spans are dropped and counted and
// Record never blocks; once it answers, export resumes.
func TestCollectorOfflineDropsAndCounts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/v1/traces"
	ln.Close() // nothing listens there now
	tr, err := tracing.New(tracing.Config{Endpoint: dead, Interval: time.Hour, QueueSize: 8, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	for range 20 { // more than the queue holds, before the exporter runs
		tr.Record(sampledSpan())
	}
	tr.Start(context.Background())
	tr.Flush(context.Background())
	s := tr.Stats()
	if s.Exported != 0 || s.DroppedQueueFull != 12 || s.DroppedExportFailed != 8 {
		t.Fatalf("stats %+v, want 12 dropped for the full queue and 8 failed", s)
	}

	col := otlptest.New(t)
	col.SetStatus(http.StatusServiceUnavailable)
	tr2 := newTracer(t, tracing.Config{Endpoint: col.Endpoint(), Interval: time.Hour})
	tr2.Record(sampledSpan())
	tr2.Flush(context.Background())
	if s := tr2.Stats(); s.DroppedExportFailed != 1 {
		t.Fatalf("503: stats %+v", s)
	}
	col.SetStatus(0)
	tr2.Record(sampledSpan())
	tr2.Flush(context.Background())
	if s := tr2.Stats(); s.Exported != 1 || s.DroppedExportFailed != 1 {
		t.Fatalf("after recovery: stats %+v", s)
	}
}

// A full batch goes at once, without waiting for the interval.
func TestFullBatchExportsAtOnce(t *testing.T) {
	col := otlptest.New(t)
	tr := newTracer(t, tracing.Config{Endpoint: col.Endpoint(), Interval: time.Hour, BatchSize: 4})
	for range 8 {
		tr.Record(sampledSpan())
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := tr.Stats().Exported; n != 8 {
			return fmt.Errorf("%d spans exported, want 8", n)
		}
		return nil
	})
	if n := col.Requests(); n != 2 {
		t.Fatalf("%d exports, want 2", n)
	}
}

// Close exports what is queued, then its goroutine has returned
// (TestMain's leak check); a collector that hangs costs at most
// FlushTimeout, and its spans are counted dropped.
func TestCloseFlushesWithDeadline(t *testing.T) {
	col := otlptest.New(t)
	tr, err := tracing.New(tracing.Config{Endpoint: col.Endpoint(), Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tr.Start(context.Background())
	tr.Record(sampledSpan())
	tr.Close()
	if n := len(col.Spans(t)); n != 1 || tr.Stats().Exported != 1 {
		t.Fatalf("closing exported %d spans, stats %+v", n, tr.Stats())
	}
	tr.Record(sampledSpan()) // after Close: queued, never sent, no panic
	tr.Flush(context.Background())

	hang := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { close(hang); srv.Close() })
	tr2, _ := tracing.New(tracing.Config{Endpoint: "http://" + ln.Addr().String() + "/v1/traces", Interval: time.Hour, FlushTimeout: 100 * time.Millisecond})
	tr2.Start(context.Background())
	tr2.Record(sampledSpan())
	tr2.Close() // returns: the deadline ends the export
	if s := tr2.Stats(); s.DroppedExportFailed != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func sampledSpan() *tracing.Span {
	s := tracing.Start(tracing.NewRoot(1), tracing.Client, "x", time.Now())
	s.End = time.Now()
	return s
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  tracing.Config
		want string
	}{
		{tracing.Config{SampleRatio: 1.5}, "SampleRatio"},
		{tracing.Config{SampleRatio: -0.1}, "SampleRatio"},
		{tracing.Config{Endpoint: "ftp://x/v1/traces"}, "scheme"},
		{tracing.Config{Endpoint: "http:///v1/traces"}, "no host"},
		{tracing.Config{Endpoint: "http://u:p@h/v1/traces"}, "user info"},
		{tracing.Config{QueueSize: -1}, "negative"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	ok := tracing.Config{SampleRatio: 0.25, Endpoint: "https://collector.example:4318/v1/traces"}
	if err := ok.Validate(); err != nil {
		t.Error(err)
	}
}
