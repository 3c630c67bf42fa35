package replica

import (
	"context"
	"fmt"
	"testing"

	"github.com/edgeplane/edgeplane/store"
)

// BenchmarkAntiEntropy100k measures one anti-entropy round between two
// replicas of 100,000 keys that differ in 10 and in 10,000 keys (half
// newer on each side), through the CBOR encoding of every message: time
// per round, bytes on the wire and records read.
func BenchmarkAntiEntropy100k(b *testing.B) {
	for _, diff := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("differ=%d", diff), func(b *testing.B) {
			s := newSimNet(b, 11, 2)
			x, y := s.nodes["n0"], s.nodes["n1"]
			recs := make([]store.Record, 100_000)
			for i := range recs {
				recs[i] = store.Record{Key: fmt.Sprintf("cfg/%06d", i), Value: []byte("value-of-about-thirty-bytes..."), Version: store.Stamp(1000 + i), Origin: "n9"}
			}
			var bytes, read int
			for iter := 1; b.Loop(); iter++ {
				b.StopTimer()
				for _, n := range []*simNode{x, y} {
					if _, err := n.st.Apply(recs); err != nil {
						b.Fatal(err)
					}
				}
				for i := range diff {
					n := x
					if i%2 == 1 {
						n = y
					}
					r := recs[i*(len(recs)/diff)]
					r.Value, r.Version = []byte("changed"), r.Version+store.Stamp(1_000_000*iter)
					if _, err := n.st.Apply([]store.Record{r}); err != nil {
						b.Fatal(err)
					}
				}
				s.bytes = 0
				before := x.st.RecordsRead() + y.st.RecordsRead()
				b.StartTimer()
				if _, err := x.r.SyncWith(context.Background(), Peer{Name: "n1", Addr: "n1"}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				bytes += s.bytes
				read += int(x.st.RecordsRead() + y.st.RecordsRead() - before)
				if x.st.DigestRoot() != y.st.DigestRoot() {
					b.Fatal("replicas differ after the round")
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(bytes)/float64(b.N)/1024, "KB/round")
			b.ReportMetric(float64(read)/float64(b.N), "records-read/round")
		})
	}
}
