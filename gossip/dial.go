package gossip

import (
	"context"
	"fmt"
	"log"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// ContextDialer is implemented by a Config.Transport whose stream dials
// can be cancelled. memberlist dials without a context; the mesh gives its
// dials one that ends at Shutdown, so that a dial to a peer that does not
// answer (which otherwise lasts the profile's TCPTimeout, up to 30s) does
// not hold Shutdown up. memberlist's own UDP+TCP transport is dialled
// with the context without implementing it.
type ContextDialer interface {
	DialAddressContext(ctx context.Context, a memberlist.Address, timeout time.Duration) (net.Conn, error)
}

// stoppingTransport gives every stream dial of the transport it wraps the
// mesh's context, which ends at Shutdown.
type stoppingTransport struct {
	memberlist.NodeAwareTransport
	ctx context.Context
}

func (t *stoppingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *stoppingTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.ctx.Err() != nil {
		return nil, ErrShutdown
	}
	switch inner := t.NodeAwareTransport.(type) {
	case ContextDialer:
		return inner.DialAddressContext(t.ctx, a, timeout)
	case *memberlist.NetTransport:
		// NetTransport's own dial, with the context.
		d := net.Dialer{Timeout: timeout}
		return d.DialContext(t.ctx, "tcp", a.Addr)
	}
	return t.NodeAwareTransport.DialAddressTimeout(a, timeout)
}

// newNetTransport starts memberlist's UDP+TCP transport as memberlist.Create
// would when given none: on a port picked by the system when mc.BindPort is
// 0 (then retried, since the TCP and UDP sockets must get the same port and
// another process may take it in between), which it writes back into mc.
func newNetTransport(mc *memberlist.Config, logger *log.Logger) (*memberlist.NetTransport, error) {
	nc := &memberlist.NetTransportConfig{BindAddrs: []string{mc.BindAddr}, BindPort: mc.BindPort, Logger: logger}
	tries := 1
	if mc.BindPort == 0 {
		tries = 10
	}
	var err error
	for range tries {
		var nt *memberlist.NetTransport
		if nt, err = memberlist.NewNetTransport(nc); err == nil {
			if mc.BindPort == 0 {
				mc.BindPort = nt.GetAutoBindPort()
				mc.AdvertisePort = mc.BindPort
			}
			return nt, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, fmt.Errorf("could not set up network transport: %w", err)
}

// closeIdle shuts down a transport no memberlist runs on (the mesh never
// started). Its listeners hand each packet and connection that arrives to
// a channel nobody reads and wait there, which would hold Shutdown up:
// what they hand over is taken and dropped until they have stopped.
func closeIdle(tr memberlist.Transport) error {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-tr.PacketCh():
			case c := <-tr.StreamCh():
				c.Close()
			case <-done:
				return
			}
		}
	})
	err := tr.Shutdown()
	close(done)
	wg.Wait()
	return err
}
