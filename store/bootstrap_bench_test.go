package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The data set of a bootstrap: 100,000 keys of 100-byte values (10 MB of
// values), written by one node, stamps increasing in key order, as
// replication streams them in chunks of 1,000.
const (
	bulkKeys     = 100_000
	bulkValueLen = 100
	bulkChunk    = 1000
	bulkOrigin   = "5eed5eed-0000-4000-8000-000000000001"
	bulkData     = bulkKeys * bulkValueLen
)

func bulkRecords() []Checked {
	ms := uint64(time.Now().Add(-time.Minute).UnixMilli())
	out := make([]Checked, bulkKeys)
	for i := range out {
		v := make([]byte, bulkValueLen)
		copy(v, fmt.Sprintf("value of cfg/%06d ", i))
		for j := len(fmt.Sprintf("value of cfg/%06d ", i)); j < len(v); j++ {
			v[j] = 'a' + byte(j%26)
		}
		out[i] = Checked{rec: Record{Key: fmt.Sprintf("cfg/%06d", i), Value: v,
			Version: MakeStamp(ms+uint64(i/1000), uint16(i%1000)), Origin: bulkOrigin}}
	}
	return out
}

// bootstrapInto merges recs into s chunk by chunk, as a bootstrap does.
func bootstrapInto(tb testing.TB, s *Store, recs []Checked) {
	tb.Helper()
	after := ""
	for len(recs) > 0 {
		part := recs[:min(bulkChunk, len(recs))]
		recs = recs[len(part):]
		through := part[len(part)-1].rec.Key
		if len(recs) == 0 {
			through = ""
		}
		if _, _, err := s.MergeRange(TableKV, after, through, part, func(*Record) bool { return false }); err != nil {
			tb.Fatal(err)
		}
		after = through
	}
}

// procWriteBytes returns what this process has written to disk so far
// (write_bytes of /proc/self/io), or false where the kernel does not say.
func procWriteBytes() (int64, bool) {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// BenchmarkBootstrapStore: 100,000 records of 100 bytes merged into an
// empty store as a bootstrap streams them, then the store closed, without
// history and with the agent's default of 10 versions a key. It reports
// the bytes written to disk (write_bytes of /proc/self/io) and the file's
// size, and the size Compact brings it to, each over the 10 MB of values.
func BenchmarkBootstrapStore(b *testing.B) {
	recs := bulkRecords()
	for _, versions := range []int{0, 10} {
		b.Run(fmt.Sprintf("history=%d", versions), func(b *testing.B) { benchBootstrap(b, recs, versions) })
	}
}

// writeCost opens a store in dir, runs load on it and closes it, and
// returns what the process wrote to disk meanwhile and the file's size.
func writeCost(b *testing.B, dir string, opts Options, load func(s *Store)) (written, size int64) {
	w0, ok := procWriteBytes()
	if !ok {
		b.Skip("no /proc/self/io")
	}
	s, err := Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	load(s)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	w1, _ := procWriteBytes()
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		b.Fatal(err)
	}
	return w1 - w0, fi.Size()
}

func benchBootstrap(b *testing.B, recs []Checked, versions int) {
	var written, size, compacted int64
	for b.Loop() {
		dir := benchDir(b)
		w, sz := writeCost(b, dir, Options{HistoryVersions: versions}, func(s *Store) { bootstrapInto(b, s, recs) })
		written += w
		size += sz
		s := openStore(b, dir, Options{HistoryVersions: versions})
		res, err := s.Compact(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		compacted += res.After
		s.Close()
	}
	n := float64(b.N)
	b.ReportMetric(float64(written)/n/(1<<20), "MiB-written")
	b.ReportMetric(float64(written)/n/bulkData, "written/data")
	b.ReportMetric(float64(size)/n/(1<<20), "MiB-file")
	b.ReportMetric(float64(size)/n/bulkData, "file/data")
	b.ReportMetric(float64(compacted)/n/bulkData, "compacted/data")
}

// BenchmarkReplicatedWrite: a store holding the 100,000 records of a
// bootstrap receives 100-byte writes from peers, each to a random key,
// durably, batch records per ApplyChecked (one commit): batch=1 is a
// delta applied as it arrives, larger batches the records a replica
// merges together at steady load. It reports, per write, the bytes
// written to disk (write_bytes of /proc/self/io), the fsyncs and the
// pages bbolt wrote besides its meta page.
func BenchmarkReplicatedWrite(b *testing.B) {
	recs := bulkRecords()
	for _, versions := range []int{0, 10} {
		for _, batch := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("history=%d/batch=%d", versions, batch), func(b *testing.B) {
				s := openStore(b, benchDir(b), Options{HistoryVersions: versions})
				bootstrapInto(b, s, recs)
				version := MakeStamp(uint64(time.Now().UnixMilli()), 0)
				val := make([]byte, bulkValueLen)
				io := newIOMeter(s.db, s.committed.Load)
				w0, ok := procWriteBytes()
				if !ok {
					b.Skip("no /proc/self/io")
				}
				writes, k := 0, 0
				for b.Loop() {
					part := make([]Checked, batch)
					for j := range part {
						version++
						k = (k + 7919) % bulkKeys // a stride prime to the key count: every key in turn, scattered
						part[j] = Checked{rec: Record{Key: fmt.Sprintf("cfg/%06d", k), Value: val, Version: version, Origin: bulkOrigin}}
					}
					if _, err := s.ApplyChecked(part); err != nil {
						b.Fatal(err)
					}
					writes += batch
				}
				w1, _ := procWriteBytes()
				b.ReportMetric(float64(w1-w0)/float64(writes), "bytes-written/op")
				io.report(b, writes)
			})
		}
	}
}

// BenchmarkRestoreStore: a snapshot of 100,000 records of 100 bytes
// restored into an empty store, without history. It reports what
// BenchmarkBootstrapStore does.
func BenchmarkRestoreStore(b *testing.B) {
	src := openStore(b, "", Options{NoSync: true})
	bootstrapInto(b, src, bulkRecords())
	var snap bytes.Buffer
	if _, err := src.Snapshot(&snap); err != nil {
		b.Fatal(err)
	}
	var written, size int64
	for b.Loop() {
		w, sz := writeCost(b, benchDir(b), Options{}, func(s *Store) {
			if n, err := s.Restore(bytes.NewReader(snap.Bytes())); err != nil || n != bulkKeys {
				b.Fatalf("Restore = %d, %v", n, err)
			}
		})
		written += w
		size += sz
	}
	n := float64(b.N)
	b.ReportMetric(float64(written)/n/bulkData, "written/data")
	b.ReportMetric(float64(size)/n/bulkData, "file/data")
}
