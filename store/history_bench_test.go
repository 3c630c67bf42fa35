package store

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkPutDurableHistory is BenchmarkPutDurable with history off and
// on in one run: each write is fsynced, and with history on it also
// records the version, in the same transaction (no fsync of its own).
// Keys cycle over 1,000 so that history fills and drops versions.
func BenchmarkPutDurableHistory(b *testing.B) {
	for _, versions := range []int{0, 10} {
		name := "off"
		if versions > 0 {
			name = fmt.Sprintf("on-%d", versions)
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			if d := os.Getenv("EDGEPLANE_BENCH_DIR"); d != "" {
				var err error
				if dir, err = os.MkdirTemp(d, "bench"); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { os.RemoveAll(dir) })
			}
			s := openStore(b, dir, Options{HistoryVersions: versions})
			val := make([]byte, 100)
			lat := make([]time.Duration, 0, b.N)
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				if _, err := s.Put(fmt.Sprintf("bench/%04d", i%1000), val, 0); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			reportLatency(b, lat)
			n, _ := s.HistoryBytes()
			b.ReportMetric(float64(n), "history-bytes")
		})
	}
}
