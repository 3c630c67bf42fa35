package quicnet

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// BenchmarkHandshake measures connections made per second between two
// nodes on loopback: a dial, the mutual-TLS handshake, the first packet
// delivered, and the close.
func BenchmarkHandshake(b *testing.B) {
	server := newNode(b, "server")
	for i := 0; b.Loop(); i++ {
		client := newNode(b, fmt.Sprintf("c%d", i))
		client.WriteToAddress([]byte("x"), memberlist.Address{Addr: server.addr(), Name: "server"})
		select {
		case <-server.PacketCh():
		case <-time.After(10 * time.Second):
			b.Fatal("no packet")
		}
		client.Shutdown()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
}

// BenchmarkMemoryPerPeer measures the heap a connection holds, both ends
// together, with one node connected to 25 peers that each sent it a
// packet.
func BenchmarkMemoryPerPeer(b *testing.B) {
	const peers = 25
	for b.Loop() {
		hub := newNode(b, "hub")
		nodes := make([]*node, peers)
		for i := range nodes {
			nodes[i] = newNode(b, fmt.Sprintf("p%d", i))
		}
		before := heapInUse()
		for _, n := range nodes {
			n.WriteToAddress([]byte("x"), memberlist.Address{Addr: hub.addr(), Name: "hub"})
		}
		for range nodes {
			select {
			case <-hub.PacketCh():
			case <-time.After(10 * time.Second):
				b.Fatal("no packet")
			}
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/peers, "heap-bytes/peer")
		b.ReportMetric(float64(hub.Stats().Conns), "conns")
		for _, n := range nodes {
			n.Shutdown()
		}
		hub.Shutdown()
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
