package quicnet

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-sockaddr"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
)

// streamConn is a QUIC stream as the net.Conn memberlist reads and writes
// a push-pull exchange on.
type streamConn struct {
	*quic.Stream
	qc   *quic.Conn
	once sync.Once
}

func (s *streamConn) LocalAddr() net.Addr  { return s.qc.LocalAddr() }
func (s *streamConn) RemoteAddr() net.Addr { return s.qc.RemoteAddr() }

// Close ends the stream both ways: what was written is still delivered,
// what was not read is discarded.
func (s *streamConn) Close() error {
	var err error
	s.once.Do(func() {
		err = s.Stream.Close()
		s.Stream.CancelRead(0)
	})
	return err
}

// dropCounter counts the UDP packets QUIC drops before any connection
// reads them: garbage, forgeries, packets for no connection.
type dropCounter struct{ n atomic.Uint64 }

func (d *dropCounter) RecordEvent(ev qlogwriter.Event) {
	if _, ok := ev.(qlog.PacketDropped); ok {
		d.n.Add(1)
	}
}

func (d *dropCounter) Close() error { return nil }

// privateIP returns the address memberlist would announce for a socket
// bound to every interface.
func privateIP() (net.IP, error) {
	s, err := sockaddr.GetPrivateIP()
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return nil, errors.New("quicnet: no private address to advertise; set an advertise address")
	}
	return ip, nil
}
