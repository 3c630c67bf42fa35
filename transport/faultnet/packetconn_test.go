package faultnet

import (
	"errors"
	"net"
	"testing"
	"time"
)

func pair(t *testing.T, cfg Config) (*PacketConn, net.PacketConn) {
	t.Helper()
	a, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := Wrap(a, cfg)
	t.Cleanup(func() { w.Close(); b.Close() })
	return w, b
}

// receive reads datagrams until none arrives for quiet, and returns them.
func receive(t *testing.T, pc net.PacketConn, quiet time.Duration) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, 2048)
	for {
		pc.SetReadDeadline(time.Now().Add(quiet))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return got
			}
			t.Fatal(err)
		}
		got = append(got, append([]byte(nil), buf[:n]...))
	}
}

func TestLossIsSeededAndNearRate(t *testing.T) {
	const n = 4000
	dropsOf := func() uint64 {
		w, b := pair(t, Config{Seed: 7, Loss: 0.05})
		for i := range n {
			if _, err := w.WriteTo([]byte{byte(i)}, b.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		return w.Stats().Dropped
	}
	first, second := dropsOf(), dropsOf()
	if first != second {
		t.Fatalf("same seed dropped %d then %d", first, second)
	}
	// 5 % of 4000 is 200; a binomial standard deviation is about 14.
	if first < 150 || first > 250 {
		t.Fatalf("dropped %d of %d, want about 200", first, n)
	}
}

func TestDelayAndReorder(t *testing.T) {
	w, b := pair(t, Config{Seed: 3, Reorder: 0.3, ReorderDelay: 20 * time.Millisecond})
	const n = 200
	for i := range n {
		w.WriteTo([]byte{byte(i)}, b.LocalAddr())
	}
	got := receive(t, b, 300*time.Millisecond)
	if len(got) != n {
		t.Fatalf("received %d of %d", len(got), n)
	}
	inversions := 0
	for i := 1; i < len(got); i++ {
		if got[i][0] < got[i-1][0] {
			inversions++
		}
	}
	if inversions == 0 || w.Stats().Reordered == 0 {
		t.Fatalf("no reordering observed (stats %+v)", w.Stats())
	}
}

func TestPartitionAndClose(t *testing.T) {
	w, b := pair(t, Config{Delay: time.Hour})
	w.SetPartitioned(true)
	w.WriteTo([]byte("lost"), b.LocalAddr())
	w.SetPartitioned(false)
	w.WriteTo([]byte("held"), b.LocalAddr()) // pending for an hour
	if s := w.Stats(); s.Dropped != 1 || s.Delayed != 1 {
		t.Fatalf("stats %+v", s)
	}
	w.Close()
	w.mu.Lock()
	pending := len(w.pending)
	w.mu.Unlock()
	if pending != 0 {
		t.Fatalf("%d deliveries still pending after Close", pending)
	}
	if _, err := w.WriteTo([]byte("x"), b.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{Loss: -0.1}, {Loss: 1.5}, {Reorder: 2}, {Delay: -1}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
