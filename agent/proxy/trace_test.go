package proxy

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/tracing"
	"github.com/edgeplane/edgeplane/agent/tracing/otlptest"
	"github.com/edgeplane/edgeplane/transport"
)

// tracedMesh is newMesh's mesh whose nodes export their spans to col,
// sampling new traces at ratio.
func tracedMesh(t *testing.T, endpoint string, ratio float64) (*mesh, map[string]*tracing.Tracer) {
	t.Helper()
	w := newWorld()
	w.tracers = map[string]*tracing.Tracer{}
	for _, n := range []string{"a1", "a2", "b1"} {
		tr, err := tracing.New(tracing.Config{SampleRatio: ratio, Endpoint: endpoint, Interval: time.Hour, Timeout: 2 * time.Second, Log: quiet,
			Resource: tracing.Resource{Attrs: []tracing.Attr{tracing.String("host.name", n)}, Scope: "edgeplane/proxy"}})
		if err != nil {
			t.Fatal(err)
		}
		tr.Start(t.Context())
		t.Cleanup(func() { tr.Close() })
		w.tracers[n] = tr
	}
	return newMeshIn(t, w), w.tracers
}

// flush exports what every tracer holds.
func flush(tracers map[string]*tracing.Tracer) {
	for _, tr := range tracers {
		tr.Flush(context.Background())
	}
}

// seen is the trace context the instance received.
func seen(t *testing.T, a *app) (transport.Traceparent, string) {
	t.Helper()
	h := *a.last.Load()
	if n := len(h.Values("Traceparent")); n != 1 {
		t.Fatalf("instance got %d traceparent headers", n)
	}
	tp, ok := transport.ParseTraceparent(h.Get("Traceparent"))
	if !ok {
		t.Fatalf("instance got traceparent %q", h.Get("Traceparent"))
	}
	return tp, h.Get("Tracestate")
}

// TestTraceTwoAgents: the application's trace id is kept end to end; a1
// adds a client span under the application's span, a2 a server span
// under a1's, and the instance's traceparent names a2's span as its
// parent. The collector decodes both spans with the real OTLP schema.
func TestTraceTwoAgents(t *testing.T) {
	col := otlptest.New(t)
	m, tracers := tracedMesh(t, col.Endpoint(), 0)
	const appSpan = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	code, from, _, _ := do(t, m.client, "GET", m.url+"/pay", "", map[string]string{"Traceparent": appSpan, "Tracestate": "congo=t61rcWkgMzE"})
	if code != 200 || from != "billing-a2" {
		t.Fatalf("%d from %q", code, from)
	}
	tp, state := seen(t, m.onA2)
	if tp.TraceIDString() != "0af7651916cd43dd8448eb211c80319c" || tp.Flags != 1 || state != "congo=t61rcWkgMzE" {
		t.Fatalf("instance got %s, tracestate %q", tp, state)
	}
	flush(tracers)
	spans := col.Spans(t)
	if len(spans) != 2 {
		t.Fatalf("collector got %d spans, want 2", len(spans))
	}
	byKind := map[string]*otlptest.Span{}
	for _, s := range spans {
		byKind[s.Kind.String()] = s
		if s.TraceID() != "0af7651916cd43dd8448eb211c80319c" || s.TraceState != "congo=t61rcWkgMzE" || s.Name != "GET billing" {
			t.Errorf("span %s: trace %s, state %q", s.Name, s.TraceID(), s.TraceState)
		}
	}
	client, server := byKind["SPAN_KIND_CLIENT"], byKind["SPAN_KIND_SERVER"]
	if client == nil || server == nil {
		t.Fatalf("spans %v", byKind)
	}
	if client.Resource["host.name"] != "a1" || server.Resource["host.name"] != "a2" {
		t.Errorf("client from %q, server from %q", client.Resource["host.name"], server.Resource["host.name"])
	}
	if client.ParentID() != "b7ad6b7169203331" || server.ParentID() != client.SpanID() || hexID(tp.ParentID[:]) != server.SpanID() {
		t.Errorf("app b7ad6b7169203331 → client %s (parent %s) → server %s (parent %s) → instance's parent %x",
			client.SpanID(), client.ParentID(), server.SpanID(), server.ParentID(), tp.ParentID)
	}
	if client.Attr("http.response.status_code") != "200" || client.Attr("edgeplane.target.node") != "a2" ||
		server.Attr("edgeplane.caller.node") != "a1" || server.Attr("edgeplane.caller.service") != "checkout" {
		t.Errorf("attributes: client %v, server %v", client.Attributes, server.Attributes)
	}
	if client.EndTimeUnixNano < server.EndTimeUnixNano || client.StartTimeUnixNano > server.StartTimeUnixNano {
		t.Errorf("the server span is not within the client's")
	}
}

func hexID(b []byte) string { return transport.Traceparent{ParentID: [8]byte(b)}.String()[36:52] }

// TestTraceCreatedAndSampled: without a traceparent the caller's agent
// starts a trace, sampled per the ratio; a caller's sampled flag is
// honoured whatever the ratio; each call and each hop has a new span id.
func TestTraceCreatedAndSampled(t *testing.T) {
	for _, c := range []struct {
		name    string
		ratio   float64
		parent  string
		sampled bool
	}{
		{"absent, ratio 1", 1, "", true},
		{"absent, ratio 0", 0, "", false},
		{"caller sampled, ratio 0", 0, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", true},
		{"caller not sampled, ratio 1", 1, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			col := otlptest.New(t)
			m, tracers := tracedMesh(t, col.Endpoint(), c.ratio)
			var hdr map[string]string
			if c.parent != "" {
				hdr = map[string]string{"Traceparent": c.parent}
			}
			var ids []transport.Traceparent
			for range 2 {
				if code, _, _, _ := do(t, m.client, "GET", m.url+"/", "", hdr); code != 200 {
					t.Fatalf("status %d", code)
				}
				tp, _ := seen(t, m.onA2)
				ids = append(ids, tp)
			}
			if ids[0].ParentID == ids[1].ParentID || (c.parent == "") == (ids[0].TraceID == ids[1].TraceID) {
				t.Errorf("two calls: %s and %s", ids[0], ids[1])
			}
			if got := ids[0].Flags&1 != 0; got != c.sampled {
				t.Errorf("instance's sampled flag %v, want %v", got, c.sampled)
			}
			flush(tracers)
			want := 0
			if c.sampled {
				want = 4 // a client and a server span per call
			}
			spans := col.Spans(t)
			if len(spans) != want {
				t.Fatalf("%d spans exported, want %d", len(spans), want)
			}
			for _, s := range spans {
				if c.parent == "" && s.Kind.String() == "SPAN_KIND_CLIENT" && len(s.ParentSpanId) != 0 {
					t.Errorf("new trace's client span has a parent %s", s.ParentID())
				}
			}
		})
	}
}

// TestTraceHostileHeaders: whatever trace headers the application sends,
// the call goes through, the instance gets one valid traceparent made by
// the agents and a tracestate within bounds or none, and the trace
// headers cannot speak for the caller: the instance's and the spans'
// caller identity is the one the agents vouch for.
func TestTraceHostileHeaders(t *testing.T) {
	col := otlptest.New(t)
	m, tracers := tracedMesh(t, col.Endpoint(), 1)
	const good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, c := range []struct {
		name      string
		hdr       http.Header
		keepTrace bool
		state     string
	}{
		{"malformed traceparent", http.Header{"Traceparent": {"00-zz"}, "Tracestate": {"a=1"}}, false, ""},
		{"oversized traceparent", http.Header{"Traceparent": {good + strings.Repeat("f", 16<<10)}}, false, ""},
		{"two traceparents", http.Header{"Traceparent": {good, good}}, false, ""},
		{"oversized tracestate", http.Header{"Traceparent": {good}, "Tracestate": {strings.Repeat("k=v,", 4000)}}, true, ""},
		{"40 members", http.Header{"Traceparent": {good}, "Tracestate": {members(40)}}, true, members(32)},
		{"tracestate with a duplicate", http.Header{"Traceparent": {good}, "Tracestate": {"a=1,a=2"}}, true, ""},
		{"identity in trace headers", http.Header{"Traceparent": {good},
			"Tracestate":               {"edgeplane-caller-service=admin"},
			"Edgeplane-Caller-Service": {"admin"}, "Edgeplane-Caller-Node": {"b1"}}, true, "edgeplane-caller-service=admin"},
	} {
		req, _ := http.NewRequest("GET", m.url+"/", nil)
		req.Header = c.hdr
		resp, err := m.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", c.name, resp.StatusCode)
		}
		tp, state := seen(t, m.onA2)
		if kept := tp.TraceIDString() == "0af7651916cd43dd8448eb211c80319c"; kept != c.keepTrace || state != c.state {
			t.Errorf("%s: instance got %s (trace kept %v), tracestate %q, want %q", c.name, tp, kept, state, c.state)
		}
		h := *m.onA2.last.Load()
		if h.Get(CallerServiceHdr) != "checkout" || h.Get(CallerNodeHdr) != "a1" {
			t.Errorf("%s: instance told the caller is %q on %q", c.name, h.Get(CallerServiceHdr), h.Get(CallerNodeHdr))
		}
	}
	flush(tracers)
	for _, s := range col.Spans(t) {
		if s.Kind.String() == "SPAN_KIND_SERVER" && (s.Attr("edgeplane.caller.service") != "checkout" || s.Attr("edgeplane.caller.node") != "a1") {
			t.Errorf("server span names caller %q on %q", s.Attr("edgeplane.caller.service"), s.Attr("edgeplane.caller.node"))
		}
	}
}

// members is a tracestate of n members k0=v...
func members(n int) string {
	var ms []string
	for i := range n {
		ms = append(ms, "k"+string(rune('a'+i%26))+string(rune('a'+i/26))+"=v")
	}
	return strings.Join(ms, ",")
}

// TestTraceHostileAgent: a member sending MethodHTTP itself, with trace
// headers of its own among the request's, cannot hand them to the
// instance: it gets the destination's span as its parent.
func TestTraceHostileAgent(t *testing.T) {
	m := newMesh(t)
	a2 := transport.Peer{Node: "a2", Addr: m.a2.srv.Addr().String()}
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	req := &httpRequest{Caller: "checkout", Service: "billing", Instance: "billing", Method: "GET", URI: "/",
		Header: map[string][]string{"traceparent": {"00-11111111111111111111111111111111-2222222222222222-01"},
			"Traceparent": {"bogus"}, "tracestate": {"a=1\r\nX: y"}, "Tracestate": {"b=2"}}}
	pt, _ := transport.ParseTraceparent(parent)
	st, err := m.a1.cli.Stream(t.Context(), a2, MethodHTTP, req, transport.WithSpan(pt))
	if err != nil {
		t.Fatal(err)
	}
	var head httpMessage
	if err := st.Recv(&head); err != nil || head.Status != 200 {
		t.Fatalf("%+v %v", head, err)
	}
	st.Close()
	tp, state := seen(t, m.onA2)
	if tp.TraceIDString() != "0af7651916cd43dd8448eb211c80319c" || tp.ParentID == pt.ParentID || state != "b=2" {
		t.Fatalf("instance got %s, tracestate %q", tp, state)
	}
}

// TestTraceCollectorOffline: with the collector unreachable calls go on
// unharmed, and the spans are dropped and counted.
func TestTraceCollectorOffline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/v1/traces"
	ln.Close()
	m, tracers := tracedMesh(t, dead, 1)
	for i := range 20 {
		if code, _, _, _ := do(t, m.client, "GET", m.url+"/", "", nil); code != 200 {
			t.Fatalf("call %d: status %d", i, code)
		}
	}
	flush(tracers)
	a1, a2 := tracers["a1"].Stats(), tracers["a2"].Stats()
	if a1.DroppedExportFailed != 20 || a2.DroppedExportFailed != 20 || a1.Exported+a2.Exported != 0 {
		t.Fatalf("a1 %+v, a2 %+v: want 20 spans each dropped", a1, a2)
	}
}

// TestTraceSameNode: an instance on the caller's node is called without
// the mesh, under the client span.
func TestTraceSameNode(t *testing.T) {
	col := otlptest.New(t)
	m, tracers := tracedMesh(t, col.Endpoint(), 1)
	local := startApp(t, "billing-a1")
	m.w.register("a1", "billing", "billing-local", local.addr())
	if code, from, _, _ := do(t, m.client, "GET", m.url+"/", "", nil); code != 200 || from != "billing-a1" {
		t.Fatalf("%d from %q", code, from)
	}
	tp, _ := seen(t, local)
	flush(tracers)
	spans := col.Spans(t)
	if len(spans) != 1 || spans[0].Kind.String() != "SPAN_KIND_CLIENT" || spans[0].SpanID() != hexID(tp.ParentID[:]) {
		t.Fatalf("spans %v, instance's parent %s", spans, tp)
	}
}
