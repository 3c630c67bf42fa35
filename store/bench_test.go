package store

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Benchmarks run on a real disk: set EDGEPLANE_BENCH_DIR to a directory on
// the device to measure (the default is the test's temp dir, which must not
// be a tmpfs for fsync figures to mean anything).
//
// Each write benchmark has two halves run one after the other: "store",
// the store's own path, and "bbolt", bbolt alone doing the same writes
// (the same keys and values, the store's bbolt options, no digest, no
// index, no meta values), so that every figure comes with its ratio from
// the same run on the same disk. The half that runs first in a process
// measures slower on a busy disk: EDGEPLANE_BENCH_SWAP=1 runs the
// bbolt half first, and scripts/bench-store.sh alternates the order from
// one round to the next and prints the ratios.
func benchDir(b *testing.B) string {
	dir := b.TempDir()
	if d := os.Getenv("EDGEPLANE_BENCH_DIR"); d != "" {
		var err error
		if dir, err = os.MkdirTemp(d, "bench"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	return dir
}

func benchStore(b *testing.B) *Store {
	return openStore(b, benchDir(b), Options{})
}

// benchBolt opens a bare bbolt file with the options Open uses, and the
// bucket the writes go to.
func benchBolt(b *testing.B) *bolt.DB {
	db, err := bolt.Open(filepath.Join(benchDir(b), "bolt.db"), 0o600, &bolt.Options{
		Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketKV)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// ioMeter reports what a benchmark's writes cost the disk, per op: fsyncs
// (bbolt syncs a commit's pages, then its meta page: two a commit), pages
// written besides the meta pages and, where the system counts them, bytes
// written (meta pages included; "B-written/op"). They do not depend on
// how busy the disk is, as times do.
type ioMeter struct {
	db       *bolt.DB
	commits  func() uint64
	writes0  int64
	commits0 uint64
	bytes0   int64
}

func newIOMeter(db *bolt.DB, commits func() uint64) *ioMeter {
	st := db.Stats()
	return &ioMeter{db: db, commits: commits, writes0: st.TxStats.GetWrite(), commits0: commits(), bytes0: writtenBytes()}
}

func (m *ioMeter) report(b *testing.B, ops int) {
	st := m.db.Stats()
	c := m.commits() - m.commits0
	w := st.TxStats.GetWrite() - m.writes0 - int64(c)
	b.ReportMetric(2*float64(c)/float64(ops), "fsyncs/op")
	b.ReportMetric(float64(w)/float64(ops), "pages/op")
	if n := writtenBytes(); n >= 0 && m.bytes0 >= 0 {
		b.ReportMetric(float64(n-m.bytes0)/float64(ops), "B-written/op")
	}
}

// txCounter counts the distinct bbolt write transactions it is shown.
type txCounter struct {
	mu   sync.Mutex
	last int
	n    uint64
}

func (c *txCounter) saw(tx *bolt.Tx) {
	c.mu.Lock()
	if tx.ID() != c.last {
		c.last, c.n = tx.ID(), c.n+1
	}
	c.mu.Unlock()
}

func (c *txCounter) count() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// halves runs a benchmark's two halves (the store's and bbolt's, or
// without and with history), the second first when
// EDGEPLANE_BENCH_SWAP=1 asks for it.
func halves(b *testing.B, first, second string, runFirst, runSecond func(b *testing.B)) {
	if os.Getenv("EDGEPLANE_BENCH_SWAP") == "1" {
		b.Run(second, runSecond)
		b.Run(first, runFirst)
		return
	}
	b.Run(first, runFirst)
	b.Run(second, runSecond)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkPutDurable: one writer, each put fsynced before the next; the
// baseline is one bbolt Update per put.
func BenchmarkPutDurable(b *testing.B) {
	val := make([]byte, 100)
	halves(b, "store", "bbolt", func(b *testing.B) {
		s := benchStore(b)
		io := newIOMeter(s.db, s.committed.Load)
		lat := make([]time.Duration, 0, b.N)
		for i := 0; b.Loop(); i++ {
			start := time.Now()
			if _, err := s.Put(fmt.Sprintf("bench/%08d", i), val, 0); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		reportLatency(b, lat)
		io.report(b, b.N)
	}, func(b *testing.B) {
		db := benchBolt(b)
		var txs txCounter
		io := newIOMeter(db, txs.count)
		lat := make([]time.Duration, 0, b.N)
		for i := 0; b.Loop(); i++ {
			start := time.Now()
			err := db.Update(func(tx *bolt.Tx) error {
				txs.saw(tx)
				return tx.Bucket(bucketKV).Put(fmt.Appendf(nil, "bench/%08d", i), val)
			})
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		reportLatency(b, lat)
		io.report(b, b.N)
	})
}

// concurrentWriters is how many goroutines the concurrent benchmarks run,
// whatever the number of cores.
const concurrentWriters = 16

// runWriters calls put b.N times from concurrentWriters goroutines, each
// with the next number.
func runWriters(b *testing.B, put func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	n := int64(b.N)
	b.ResetTimer()
	for range concurrentWriters {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
				if err := put(int(i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkPutConcurrent: 16 writers put durably at once; the baseline is
// bbolt's Batch with MaxBatchSize 16, which commits when 16 calls are
// waiting (or after its 10 ms delay).
func BenchmarkPutConcurrent(b *testing.B) {
	val := make([]byte, 100)
	halves(b, "store", "bbolt", func(b *testing.B) {
		s := benchStore(b)
		io := newIOMeter(s.db, s.committed.Load)
		runWriters(b, func(i int) error {
			_, err := s.Put(fmt.Sprintf("bench/%08d", i), val, 0)
			return err
		})
		io.report(b, b.N)
	}, func(b *testing.B) {
		db := benchBolt(b)
		db.MaxBatchSize = concurrentWriters
		var txs txCounter
		io := newIOMeter(db, txs.count)
		runWriters(b, func(i int) error {
			return db.Batch(func(tx *bolt.Tx) error {
				txs.saw(tx)
				return tx.Bucket(bucketKV).Put(fmt.Appendf(nil, "bench/%08d", i), val)
			})
		})
		io.report(b, b.N)
	})
}

// BenchmarkApply10k: a batch of 10,000 remote records; the baseline puts
// them in one bbolt transaction.
func BenchmarkApply10k(b *testing.B) {
	val := make([]byte, 100)
	recs := make([]Record, 10_000)
	version := MakeStamp(uint64(time.Now().UnixMilli()), 0)
	halves(b, "store", "bbolt", func(b *testing.B) {
		s := benchStore(b)
		io := newIOMeter(s.db, s.committed.Load)
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
		io.report(b, b.N)
	}, func(b *testing.B) {
		db := benchBolt(b)
		var txs txCounter
		io := newIOMeter(db, txs.count)
		for b.Loop() {
			err := db.Update(func(tx *bolt.Tx) error {
				txs.saw(tx)
				bk := tx.Bucket(bucketKV)
				for i := range recs {
					version++
					recs[i] = Record{Key: fmt.Sprintf("bench/%08d", i), Value: val, Version: version, Origin: "peer"}
					if err := bk.Put([]byte(recs[i].Key), appendEntry(nil, &Entry{Record: recs[i]})); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
		io.report(b, b.N)
	})
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
