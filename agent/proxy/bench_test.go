package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// BenchmarkProxyHTTP compares one caller's 1 KiB request and 1 KiB
// answer made directly to the instance, through the caller's agent to an
// instance on its own node (the short cut), and through two agents over
// the mesh; p50 and p99 are reported, and for the proxied paths the
// latency they add to the direct one's p50/p99.
//
//	go test -run '^$' -bench BenchmarkProxyHTTP -benchtime 3000x ./agent/proxy/
func BenchmarkProxyHTTP(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 1024)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write(payload)
	}))
	b.Cleanup(echo.Close)
	w := newWorld()
	a1 := startNode(b, w, "a1", "X", []Upstream{{Caller: "checkout", Service: "billing"}, {Caller: "checkout", Service: "stock"}}, nil)
	startNode(b, w, "a2", "X", nil, nil)
	w.register("a1", "checkout", "checkout", "127.0.0.1:1")
	w.register("a2", "billing", "billing", echo.Listener.Addr().String())
	w.register("a1", "stock", "stock", echo.Listener.Addr().String())
	client := testClient(b)

	var directP50, directP99 time.Duration
	for _, bc := range []struct{ name, url string }{
		{"direct", echo.URL},
		{"same-node", "http://" + a1.addr(1)},
		{"two-agents", "http://" + a1.addr(0)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				resp, err := client.Post(bc.url+"/pay", "application/octet-stream", bytes.NewReader(payload))
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n != int64(len(payload)) {
					b.Fatalf("%d, %d bytes", resp.StatusCode, n)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
			b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
			if bc.name == "direct" {
				directP50, directP99 = p50, p99
				return
			}
			b.ReportMetric(float64((p50 - directP50).Microseconds()), "added-p50-µs")
			b.ReportMetric(float64((p99 - directP99).Microseconds()), "added-p99-µs")
		})
	}
}
