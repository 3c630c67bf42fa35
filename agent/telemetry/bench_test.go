package telemetry

import (
	"bytes"
	"runtime"
	"testing"
)

// BenchmarkScrape measures one scrape of an agent with every source and
// 100 peers (32 listed): its time, the bytes it allocates and writes, and
// what the Metrics itself retains.
func BenchmarkScrape(b *testing.B) {
	cfg := fullConfig(b, 100)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// What New allocates bounds what the Metrics retains.
	retained := float64(after.TotalAlloc - before.TotalAlloc)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		m.WritePrometheus(&buf)
	}
	b.ReportMetric(float64(buf.Len()), "written-B")
	b.ReportMetric(retained, "retained-B")
	runtime.KeepAlive(m)
}
