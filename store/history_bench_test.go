package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkPutDurableHistory is BenchmarkPutDurable with history off and
// on in one run: each write is fsynced, and with history on it also
// records the version, in the same transaction (no fsync of its own).
// Keys cycle over 1,000, each written 10 times (unsynced) before the
// timed puts: history is full, and each put drops a version as it adds
// one. Each half reports fsyncs, pages and bytes written per put besides
// its times; EDGEPLANE_BENCH_SWAP=1 runs the half with history first.
func BenchmarkPutDurableHistory(b *testing.B) {
	val := make([]byte, 100)
	half := func(versions int) func(b *testing.B) {
		return func(b *testing.B) {
			s := openStore(b, benchDir(b), Options{HistoryVersions: versions})
			put := func(i int) {
				if _, err := s.Put(fmt.Sprintf("bench/%04d", i%1000), val, 0); err != nil {
					b.Fatal(err)
				}
			}
			s.db.NoSync = true
			for i := range 10_000 {
				put(i)
			}
			s.db.NoSync = false
			io := newIOMeter(s.db, s.committed.Load)
			lat := make([]time.Duration, 0, b.N)
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				put(i)
				lat = append(lat, time.Since(start))
			}
			reportLatency(b, lat)
			io.report(b, b.N)
			n, _ := s.HistoryBytes()
			b.ReportMetric(float64(n), "history-bytes")
		}
	}
	halves(b, "off", "on-10", half(0), half(10))
}

// writtenBytes returns how many bytes the process has passed to write
// calls (wchar in /proc/self/io), or -1 where the system does not say.
func writtenBytes() int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("wchar: ")); ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// BenchmarkListHistory is BenchmarkList with history off and on in one
// run: with history on, each key holds 10 versions, which the kv bucket
// keeps beside its record and a list passes over.
func BenchmarkListHistory(b *testing.B) {
	half := func(versions int) func(b *testing.B) {
		return func(b *testing.B) {
			s := openStore(b, benchDir(b), Options{NoSync: true, HistoryVersions: versions})
			val := make([]byte, 100)
			recs := make([]Record, 10_000)
			for round := range 10 {
				for i := range recs {
					v := Stamp(round*len(recs) + i + 1)
					recs[i] = Record{Key: fmt.Sprintf("app/%03d/%05d", i%100, i), Value: val, Version: v, Origin: "peer"}
					if round > 0 {
						recs[i].Prev = v - Stamp(len(recs))
					}
				}
				if _, err := s.Apply(recs); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; b.Loop(); i++ {
				if list, _, err := s.List(fmt.Sprintf("app/%03d/", i%100)); err != nil || len(list) != 100 {
					b.Fatalf("List = %d, %v", len(list), err)
				}
			}
		}
	}
	halves(b, "off", "on-10", half(0), half(10))
}
