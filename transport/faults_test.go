package transport

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/transport/faultnet"
)

func lossyConn(t *testing.T, seed uint64) *faultnet.PacketConn {
	t.Helper()
	raw, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return faultnet.Wrap(raw, faultnet.Config{
		Seed: seed, Loss: 0.05,
		Jitter: 2 * time.Millisecond, Reorder: 0.02, ReorderDelay: 5 * time.Millisecond,
	})
}

// TestCallsCompleteAtFivePercentLoss runs calls over links that drop 5 %
// of datagrams each way (and delay and reorder some): QUIC recovers, and
// every call completes within its deadline.
func TestCallsCompleteAtFivePercentLoss(t *testing.T) {
	srvConn, cliConn := lossyConn(t, 1), lossyConn(t, 2)
	srv := startServer(t, ServerConfig{PacketConn: srvConn})
	c := newClient(t, ClientConfig{PacketConn: cliConn})
	p := srv.peer("server")

	const workers, perWorker = 8, 25
	const deadline = 5 * time.Second
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				var got Msg
				err := c.Call(ctx, p, "echo", &Msg{N: w*1000 + i, Text: string(make([]byte, 600))}, &got)
				cancel()
				if err == nil && got.N != w*1000+i {
					err = Errorf(DataLoss, "reply %d for request %d", got.N, w*1000+i)
				}
				errs <- err
			}
		})
	}
	// A stream of many messages crosses the same lossy link.
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	st, err := c.Stream(ctx, p, "count", &Msg{N: 300})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for st.Recv(&Msg{}) == nil {
		n++
	}
	if n != 300 {
		t.Fatalf("stream delivered %d of 300 messages", n)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("call failed at 5%% loss: %v", err)
		}
	}
	sd, cd := srvConn.Stats(), cliConn.Stats()
	if sd.Dropped == 0 || cd.Dropped == 0 {
		t.Fatalf("no loss injected: server %+v client %+v", sd, cd)
	}
	t.Logf("server sent %d, dropped %d; client sent %d, dropped %d", sd.Sent, sd.Dropped, cd.Sent, cd.Dropped)
}
