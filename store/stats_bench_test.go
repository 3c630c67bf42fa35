package store

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkCommitObserve is what timing a commit adds to it: a clock
// reading and one observation.
func BenchmarkCommitObserve(b *testing.B) {
	var l latency
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		l.observe(time.Since(start))
	}
}

// BenchmarkPutNoSync is a Put without fsync: the commit's own work, where
// the instrumentation would show.
func BenchmarkPutNoSync(b *testing.B) {
	s := openStore(b, "", Options{NoSync: true})
	val := make([]byte, 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Put(fmt.Sprintf("bench/%08d", i), val, 0); err != nil {
			b.Fatal(err)
		}
	}
}
