package tracing

import (
	"runtime"
	"testing"
	"time"
)

// proxySpan is a span as the proxy makes one: seven attributes.
func proxySpan(c Context) *Span {
	s := Start(c, Client, "GET billing", time.Now())
	s.Attrs = []Attr{String("http.request.method", "GET"), String("edgeplane.caller.service", "checkout"),
		String("edgeplane.target.service", "billing"), String("edgeplane.target.node", "node-a2"),
		String("edgeplane.target.instance", "billing-1"), Int("edgeplane.attempt", 1), Int("http.response.status_code", 200)}
	s.End = time.Now()
	return s
}

// BenchmarkEncodeBatch: the OTLP protobuf encoding of a full batch
// (512 spans): bytes on the wire and time per span.
func BenchmarkEncodeBatch(b *testing.B) {
	c := NewRoot(1)
	spans := make([]*Span, DefaultBatchSize)
	for i := range spans {
		spans[i] = proxySpan(c)
	}
	res := Resource{Attrs: []Attr{String("service.name", "edgeplane"), String("host.name", "node-a1")}, Scope: "edgeplane/proxy", Version: "1.0.0"}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = encodeRequest(buf[:0], res, spans)
	}
	b.ReportMetric(float64(len(buf))/float64(len(spans)), "wire-bytes/span")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(spans)), "ns/span")
}

// BenchmarkQueueMemory: the heap a full queue (DefaultQueueSize spans
// of the proxy's shape) holds.
func BenchmarkQueueMemory(b *testing.B) {
	c := NewRoot(1)
	var per float64
	for b.Loop() {
		q := make(chan *Span, DefaultQueueSize)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range DefaultQueueSize {
			q <- proxySpan(c)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per = float64(after.HeapAlloc-before.HeapAlloc) / DefaultQueueSize
		runtime.KeepAlive(q)
	}
	b.ReportMetric(per, "heap-bytes/span")
	b.ReportMetric(per*DefaultQueueSize/1024, "full-queue-KiB")
}
