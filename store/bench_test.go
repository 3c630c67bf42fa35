package store

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// Benchmarks run on a real disk: set EDGEPLANE_BENCH_DIR to a directory on
// the device to measure (the default is the test's temp dir, which must not
// be a tmpfs for fsync figures to mean anything).
func benchStore(b *testing.B) *Store {
	dir := b.TempDir()
	if d := os.Getenv("EDGEPLANE_BENCH_DIR"); d != "" {
		var err error
		if dir, err = os.MkdirTemp(d, "bench"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	return openStore(b, dir, Options{})
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

func BenchmarkPutDurable(b *testing.B) {
	s := benchStore(b)
	val := make([]byte, 100)
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if _, err := s.Put(fmt.Sprintf("bench/%08d", i), val, 0); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
}

func BenchmarkPutConcurrent(b *testing.B) {
	s := benchStore(b)
	val := make([]byte, 100)
	b.SetParallelism(8) // 8 writers per core
	b.RunParallel(func(pb *testing.PB) {
		id := time.Now().UnixNano()
		for i := 0; pb.Next(); i++ {
			if _, err := s.Put(fmt.Sprintf("bench/%d/%08d", id, i), val, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkApply10k(b *testing.B) {
	s := benchStore(b)
	val := make([]byte, 100)
	recs := make([]Record, 10_000)
	var version Stamp = MakeStamp(uint64(time.Now().UnixMilli()), 0)
	for b.Loop() {
		for i := range recs {
			version++
			recs[i] = Record{Key: fmt.Sprintf("bench/%08d", i), Value: val, Version: version, Origin: "peer"}
		}
		if n, err := s.Apply(recs); err != nil || n != len(recs) {
			b.Fatalf("Apply = %d, %v", n, err)
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}

func fill(b *testing.B, s *Store, n int) {
	val := make([]byte, 100)
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Key: fmt.Sprintf("app/%03d/%05d", i%100, i), Value: val, Version: Stamp(i + 1), Origin: "peer"}
	}
	if _, err := s.Apply(recs); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkGet(b *testing.B) {
	s := benchStore(b)
	fill(b, s, 10_000)
	for i := 0; b.Loop(); i++ {
		if _, found, _, err := s.Get(fmt.Sprintf("app/%03d/%05d", i%100, i%10_000)); err != nil || !found {
			b.Fatal("missing", err)
		}
	}
}

// BenchmarkList lists one prefix of 100 keys out of 10,000.
func BenchmarkList(b *testing.B) {
	s := benchStore(b)
	fill(b, s, 10_000)
	for i := 0; b.Loop(); i++ {
		if list, _, err := s.List(fmt.Sprintf("app/%03d/", i%100)); err != nil || len(list) != 100 {
			b.Fatalf("List = %d, %v", len(list), err)
		}
	}
}
