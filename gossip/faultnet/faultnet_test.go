package faultnet

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func pair(t *testing.T, n *Network) (a, b memberlist.NodeAwareTransport, aAddr, bAddr string) {
	t.Helper()
	var addrs [2]string
	var trs [2]memberlist.NodeAwareTransport
	for i := range trs {
		tr, port, err := n.NewTransport("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Shutdown() })
		if _, _, err := tr.FinalAdvertiseAddr("", 0); err != nil {
			t.Fatal(err)
		}
		trs[i], addrs[i] = tr, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	return trs[0], trs[1], addrs[0], addrs[1]
}

func receive(t *testing.T, tr memberlist.NodeAwareTransport, within time.Duration) bool {
	t.Helper()
	select {
	case <-tr.PacketCh():
		return true
	case <-time.After(within):
		return false
	}
}

func TestPartitionCutsBothWaysAndHeals(t *testing.T) {
	n := New(1)
	a, b, aAddr, bAddr := pair(t, n)
	if _, err := a.WriteTo([]byte("hi"), bAddr); err != nil {
		t.Fatal(err)
	}
	if !receive(t, b, 5*time.Second) {
		t.Fatal("packet lost without a fault")
	}

	n.Partition("left", aAddr)
	n.Partition("right", bAddr)
	a.WriteTo([]byte("lost"), bAddr)
	b.WriteTo([]byte("lost"), aAddr)
	if _, err := a.DialTimeout(bAddr, time.Second); !errors.Is(err, ErrPartitioned) {
		t.Fatalf("dial across the partition: %v", err)
	}
	if n.Dropped() != 2 {
		t.Fatalf("dropped %d packets, want 2", n.Dropped())
	}

	n.Heal()
	conn, err := a.DialTimeout(bAddr, time.Second)
	if err != nil {
		t.Fatalf("dial after heal: %v", err)
	}
	conn.Close()
	(<-b.StreamCh()).Close() // the transport hands accepted streams over one by one
	b.WriteTo([]byte("back"), aAddr)
	if !receive(t, a, 5*time.Second) {
		t.Fatal("packet lost after heal")
	}
}

func TestDropRateIsSeeded(t *testing.T) {
	count := func() int {
		n := New(42)
		n.SetDrop(0.3)
		drops := 0
		for range 1000 {
			if drop, _ := n.packetFate("x", "y"); drop {
				drops++
			}
		}
		return drops
	}
	first := count()
	if first < 200 || first > 400 || count() != first {
		t.Fatalf("drops %d (want about 300, the same every run)", first)
	}
}

func TestJitterStaysInItsRange(t *testing.T) {
	n := New(7)
	n.SetDelay(10 * time.Millisecond)
	n.SetJitter(50 * time.Millisecond)
	var lo, hi time.Duration = time.Hour, 0
	for range 1000 {
		_, d := n.packetFate("x", "y")
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 10*time.Millisecond || hi >= 60*time.Millisecond || hi-lo < 40*time.Millisecond {
		t.Fatalf("delays from %v to %v, want spread over [10ms, 60ms)", lo, hi)
	}
}
