package transport

import (
	"context"
	"testing"
	"time"
)

// BenchmarkMetricsObserve is what the metrics interceptor adds to each
// call, on each side: one Observe.
func BenchmarkMetricsObserve(b *testing.B) {
	m := NewMetrics()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Observe("replica.push", OK, 3*time.Millisecond)
		}
	})
}

// BenchmarkUnaryMetrics compares a unary call (64 bytes echoed, one
// caller) without interceptors and with the metrics interceptor on both
// sides, as the agent runs it.
func BenchmarkUnaryMetrics(b *testing.B) {
	body := make([]byte, 64)
	for _, tc := range []struct {
		name string
		on   bool
	}{{"bare", false}, {"metrics", true}} {
		b.Run(tc.name, func(b *testing.B) {
			var scfg ServerConfig
			var ccfg ClientConfig
			if tc.on {
				scfg.Interceptors = []Interceptor{NewMetrics().Interceptor()}
				ccfg.Interceptors = []Interceptor{NewMetrics().Interceptor()}
			}
			srv := startServer(b, scfg)
			srv.Handle("bench.Echo", func(ctx context.Context, req Decoder) (any, error) {
				var in []byte
				if err := req.Decode(&in); err != nil {
					return nil, err
				}
				return in, nil
			})
			c := newClient(b, ccfg)
			p := srv.peer("server")
			runCallers(b, 1, func(ctx context.Context) error {
				var out []byte
				return c.Call(ctx, p, "bench.Echo", body, &out)
			}, nil)
		})
	}
}
