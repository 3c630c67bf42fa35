package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// The benchmarks compare a unary call with a 64-byte body, echoed back,
// over one connection on loopback: this transport against gRPC-go with
// mutual TLS 1.3 doing the same work in the same process. Allocations are
// counted in the process, so they include both sides of the call.

var benchConcurrency = []int{1, 16, 256}

func BenchmarkUnary(b *testing.B) {
	body := make([]byte, 64)
	for i := range body {
		body[i] = byte(i)
	}
	for _, n := range benchConcurrency {
		b.Run(fmt.Sprintf("edgeplane/callers=%d", n), func(b *testing.B) {
			srv := startServer(b, ServerConfig{})
			srv.Handle("bench.Echo", func(ctx context.Context, req Decoder) (any, error) {
				var in []byte
				if err := req.Decode(&in); err != nil {
					return nil, err
				}
				return in, nil
			})
			c := newClient(b, ClientConfig{})
			p := srv.peer("server")
			call := func(ctx context.Context) error {
				var out []byte
				if err := c.Call(ctx, p, "bench.Echo", body, &out); err != nil {
					return err
				}
				if len(out) != len(body) {
					return fmt.Errorf("echoed %d bytes", len(out))
				}
				return nil
			}
			packets := func() uint64 {
				pc, _ := c.peer(p)
				st := pc.conn.Load().ConnectionStats()
				return st.PacketsSent + st.PacketsReceived
			}
			runCallers(b, n, call, packets)
		})
		b.Run(fmt.Sprintf("grpc/callers=%d", n), func(b *testing.B) {
			cc := startGRPC(b)
			call := func(ctx context.Context) error {
				var out []byte
				if err := cc.Invoke(ctx, "/bench.Bench/Echo", &body, &out); err != nil {
					return err
				}
				if len(out) != len(body) {
					return fmt.Errorf("echoed %d bytes", len(out))
				}
				return nil
			}
			runCallers(b, n, call, nil)
		})
	}
}

// runCallers makes b.N calls from n goroutines and reports calls/s and
// latency percentiles, and packets per call (both directions) if packets
// is set.
func runCallers(b *testing.B, n int, call func(context.Context) error, packets func() uint64) {
	ctx := context.Background()
	for range 50 { // warm the connection and pools
		if err := call(ctx); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([][]time.Duration, n)
	for i := range lat {
		lat[i] = make([]time.Duration, 0, b.N/n+1)
	}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	var pkts0 uint64
	if packets != nil {
		pkts0 = packets()
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for g := range n {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := call(ctx); err != nil {
					failed.Store(err)
					return
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	if packets != nil {
		b.ReportMetric(float64(packets()-pkts0)/float64(b.N), "pkts/call")
	}
}

// rawCodec passes byte slices through, so gRPC does no protobuf work.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	p := v.(*[]byte)
	*p = append((*p)[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "raw" }

type benchService interface{}

var grpcBenchDesc = grpc.ServiceDesc{
	ServiceName: "bench.Bench",
	HandlerType: (*benchService)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var in []byte
			if err := dec(&in); err != nil {
				return nil, err
			}
			return &in, nil
		},
	}},
}

// startGRPC serves the echo method with gRPC over mutual TLS 1.3 and
// returns a client connection to it.
func startGRPC(b *testing.B) *grpc.ClientConn {
	ca := fleetCA(b)
	srvCert, cliCert := fleetTLS(b, "server").Certificate, fleetTLS(b, "client").Certificate
	serverTLS := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{*srvCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
	}
	clientTLS := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{*cliCert},
		RootCAs:      ca.Pool(),
		ServerName:   "server",
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(serverTLS)), grpc.ForceServerCodec(rawCodec{}))
	s.RegisterService(&grpcBenchDesc, struct{}{})
	done := make(chan struct{})
	go func() { s.Serve(lis); close(done) }()
	cc, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(credentials.NewTLS(clientTLS)),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cc.Close()
		s.Stop()
		<-done
	})
	return cc
}
