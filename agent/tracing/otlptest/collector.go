// Package otlptest is an OTLP/HTTP traces endpoint for tests: it decodes
// each export with the generated code of the real OTLP schema
// (go.opentelemetry.io/proto/otlp), as a collector's receiver does, and
// keeps the spans. It decodes into TracesData, which the schema defines
// as wire-identical to ExportTraceServiceRequest (both: field 1,
// repeated ResourceSpans) and which spares the tests the collector
// service's gRPC gateway. Only tests import it, so the schema's code never
// enters the agent's binary (scripts/check-deps.sh).
package otlptest

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Collector receives OTLP/HTTP protobuf exports on /v1/traces.
type Collector struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []*tracepb.TracesData
	errs     []error
	status   int
}

// Span is one received span with its batch's resource and scope.
type Span struct {
	*tracepb.Span
	Resource map[string]string
	Scope    string
}

// TraceID, SpanID and ParentID are the ids in hex.
func (s *Span) TraceID() string  { return hex.EncodeToString(s.Span.TraceId) }
func (s *Span) SpanID() string   { return hex.EncodeToString(s.Span.SpanId) }
func (s *Span) ParentID() string { return hex.EncodeToString(s.Span.ParentSpanId) }

// Attr returns a string or integer attribute as text, "" when absent.
func (s *Span) Attr(k string) string {
	for _, kv := range s.Attributes {
		if kv.Key == k {
			if v, ok := kv.Value.Value.(*commonpb.AnyValue_IntValue); ok {
				return fmt.Sprint(v.IntValue)
			}
			return kv.Value.GetStringValue()
		}
	}
	return ""
}

// New starts a collector, closed at the end of t.
func New(t testing.TB) *Collector {
	t.Helper()
	c := &Collector{}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *Collector) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status != 0 {
		w.WriteHeader(c.status)
		return
	}
	if err == nil && (r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf") {
		err = fmt.Errorf("unexpected request %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	var req tracepb.TracesData
	if err == nil {
		err = proto.Unmarshal(body, &req)
	}
	if err == nil {
		err = check(&req)
	}
	if err != nil {
		c.errs = append(c.errs, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	c.requests = append(c.requests, &req)
	// An empty ExportTraceServiceResponse: no partial success.
	w.Header().Set("Content-Type", "application/x-protobuf")
}

// check applies the rules a collector's receiver applies to ids.
func check(req *tracepb.TracesData) error {
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				if len(sp.TraceId) != 16 || len(sp.SpanId) != 8 || len(sp.ParentSpanId) != 0 && len(sp.ParentSpanId) != 8 {
					return fmt.Errorf("span %q: ids of %d, %d and %d bytes", sp.Name, len(sp.TraceId), len(sp.SpanId), len(sp.ParentSpanId))
				}
			}
		}
	}
	return nil
}

// Endpoint is the URL to export to.
func (c *Collector) Endpoint() string { return c.srv.URL + "/v1/traces" }

// SetStatus makes the collector answer every export with code, without
// reading it; 0 restores normal service.
func (c *Collector) SetStatus(code int) {
	c.mu.Lock()
	c.status = code
	c.mu.Unlock()
}

// Requests returns how many exports were taken.
func (c *Collector) Requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.requests)
}

// Spans returns the spans received so far, and fails t for each export
// that did not decode.
func (c *Collector) Spans(t testing.TB) []*Span {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, err := range c.errs {
		t.Errorf("collector: %v", err)
	}
	var out []*Span
	for _, req := range c.requests {
		for _, rs := range req.ResourceSpans {
			res := map[string]string{}
			for _, kv := range rs.Resource.GetAttributes() {
				res[kv.Key] = kv.Value.GetStringValue()
			}
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					out = append(out, &Span{Span: sp, Resource: res, Scope: ss.Scope.GetName()})
				}
			}
		}
	}
	return out
}
