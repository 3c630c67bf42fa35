package transport

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// LatencyBounds are the upper bounds of the latency histogram's buckets;
// a last, unbounded bucket holds slower calls.
var LatencyBounds = []time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Metrics counts calls by method and status code and keeps a latency
// histogram per method, in process. Read it with Snapshot. Recording is
// lock-free once a method has been seen.
type Metrics struct {
	methods sync.Map // string → *methodMetrics
}

type methodMetrics struct {
	codes   [numCodes]atomic.Uint64
	buckets []atomic.Uint64 // len(LatencyBounds)+1
	sumNs   atomic.Int64
}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics { return &Metrics{} }

// Observe records one call.
func (m *Metrics) Observe(method string, code Code, d time.Duration) {
	v, ok := m.methods.Load(method)
	if !ok {
		v, _ = m.methods.LoadOrStore(method, &methodMetrics{buckets: make([]atomic.Uint64, len(LatencyBounds)+1)})
	}
	mm := v.(*methodMetrics)
	if int(code) < numCodes {
		mm.codes[code].Add(1)
	} else {
		mm.codes[Unknown].Add(1)
	}
	mm.buckets[sort.Search(len(LatencyBounds), func(i int) bool { return d <= LatencyBounds[i] })].Add(1)
	mm.sumNs.Add(int64(d))
}

// Interceptor returns the interceptor that records into m.
func (m *Metrics) Interceptor() Interceptor {
	return func(ctx context.Context, call *CallInfo, next Invoker) error {
		start := time.Now()
		err := next(ctx, call)
		m.Observe(call.Method, CodeOf(err), time.Since(start))
		return err
	}
}

// MethodStats is a snapshot of one method's metrics.
type MethodStats struct {
	// Codes counts calls by status code; codes never seen are absent.
	Codes map[Code]uint64
	// Latency is the histogram of call durations.
	Latency Histogram
}

// Calls returns the number of calls counted.
func (s MethodStats) Calls() uint64 { return s.Latency.Count }

// Histogram counts durations in buckets bounded by Bounds; Counts has one
// more entry than Bounds, for durations above the last bound.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// Quantile returns an upper bound for the q-th quantile (0 < q ≤ 1): the
// bound of the bucket that holds it, or the last bound doubled when the
// quantile falls in the unbounded bucket. Zero if empty.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(q*float64(h.Count) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			if i < len(h.Bounds) {
				return h.Bounds[i]
			}
			break
		}
	}
	return 2 * h.Bounds[len(h.Bounds)-1]
}

// Snapshot copies the current counts, by method.
func (m *Metrics) Snapshot() map[string]MethodStats {
	out := make(map[string]MethodStats)
	m.methods.Range(func(k, v any) bool {
		mm := v.(*methodMetrics)
		s := MethodStats{Codes: make(map[Code]uint64), Latency: Histogram{
			Bounds: append([]time.Duration(nil), LatencyBounds...),
			Counts: make([]uint64, len(mm.buckets)),
			Sum:    time.Duration(mm.sumNs.Load()),
		}}
		for c := range mm.codes {
			if n := mm.codes[c].Load(); n > 0 {
				s.Codes[Code(c)] = n
			}
		}
		for i := range mm.buckets {
			s.Latency.Counts[i] = mm.buckets[i].Load()
			s.Latency.Count += s.Latency.Counts[i]
		}
		out[k.(string)] = s
		return true
	})
	return out
}
