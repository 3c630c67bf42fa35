package quicnet

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// denyList is a Verify for tests: any certificate naming a node, except
// the denied fingerprints.
type denyList struct {
	mu     sync.Mutex
	denied [][]byte
}

func (d *denyList) deny(fp []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.denied = append(d.denied, fp)
}

func (d *denyList) verify(cs tls.ConnectionState) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", tlsmesh.ErrNoCertificate
	}
	leaf := cs.PeerCertificates[0]
	d.mu.Lock()
	defer d.mu.Unlock()
	if slices.ContainsFunc(d.denied, func(fp []byte) bool { return bytes.Equal(fp, tlsmesh.Fingerprint(leaf.Raw)) }) {
		return "", errors.New("denied")
	}
	return tlsmesh.NodeName(leaf)
}

type node struct {
	*Transport
	name string
	cert *tls.Certificate
	deny *denyList
}

func (n *node) addr() string { return n.cfg.PacketConn.LocalAddr().String() }

func (n *node) fingerprint() []byte { return tlsmesh.Fingerprint(n.cert.Leaf.Raw) }

// newNode starts a transport on 127.0.0.1 for a node with a fresh
// self-signed certificate; CheckNode requires the certificate's name.
func newNode(t testing.TB, name string) *node {
	t.Helper()
	cert, err := tlsmesh.SelfSigned(name, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, cert: cert, deny: &denyList{}}
	n.Transport, err = New(Config{
		PacketConn:  pc,
		Certificate: cert,
		Verify:      n.deny.verify,
		CheckNode: func(node string, p Peer) error {
			if p.Node != node {
				return fmt.Errorf("certificate names %q", p.Node)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })
	return n
}

func recvPacket(t *testing.T, n *node) *memberlist.Packet {
	t.Helper()
	select {
	case p := <-n.PacketCh():
		return p
	case <-time.After(10 * time.Second):
		t.Fatalf("%s received no packet", n.name)
		return nil
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPacketsBothWaysOnOneConnection: a packet to a node's address
// arrives from the sender's address, and the answer goes back on the same
// connection.
func TestPacketsBothWaysOnOneConnection(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	if _, err := a.WriteToAddress([]byte("ping"), memberlist.Address{Addr: b.addr(), Name: "b"}); err != nil {
		t.Fatal(err)
	}
	p := recvPacket(t, b)
	if string(p.Buf) != "ping" || p.From.String() != a.addr() {
		t.Fatalf("b got %q from %v, want ping from %s", p.Buf, p.From, a.addr())
	}
	// The largest packet fits a datagram on a fresh connection.
	big := bytes.Repeat([]byte{'x'}, MaxPacket)
	a.WriteToAddress(big, memberlist.Address{Addr: b.addr(), Name: "b"})
	if p := recvPacket(t, b); !bytes.Equal(p.Buf, big) {
		t.Fatalf("b got %d bytes, want the %d-byte packet", len(p.Buf), MaxPacket)
	}
	if _, err := b.WriteToAddress([]byte("ack"), memberlist.Address{Addr: p.From.String(), Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if p := recvPacket(t, a); string(p.Buf) != "ack" {
		t.Fatalf("a got %q, want ack", p.Buf)
	}
	if sa, sb := a.Stats(), b.Stats(); sa.Handshakes != 1 || sb.Handshakes != 1 || sa.Conns != 1 {
		t.Fatalf("stats a %+v b %+v, want one connection each", sa, sb)
	}
}

// TestStream: a push-pull exchange on a stream.
func TestStream(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	errc := make(chan error, 1)
	go func() {
		select {
		case c := <-b.StreamCh():
			defer c.Close()
			req, err := io.ReadAll(io.LimitReader(c, 4))
			if err == nil && string(req) != "push" {
				err = fmt.Errorf("b read %q", req)
			}
			if err == nil {
				_, err = c.Write([]byte("pull"))
			}
			errc <- err
		case <-time.After(10 * time.Second):
			errc <- errors.New("b got no stream")
		}
	}()
	c, err := a.DialAddressTimeout(memberlist.Address{Addr: b.addr(), Name: "b"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.RemoteAddr().String() != b.addr() {
		t.Errorf("stream's remote address %v, want %s", c.RemoteAddr(), b.addr())
	}
	if _, err := c.Write([]byte("push")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := io.ReadAll(c)
	if err != nil || string(resp) != "pull" {
		t.Fatalf("a read %q, %v; want pull", resp, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestRefusedPeerDeliversNothing: a peer whose certificate the receiver
// refuses gets no packet and no stream through, and is counted.
func TestRefusedPeerDeliversNothing(t *testing.T) {
	a, outsider := newNode(t, "a"), newNode(t, "outsider")
	a.deny.deny(outsider.fingerprint())
	outsider.WriteToAddress([]byte("forged"), memberlist.Address{Addr: a.addr(), Name: "a"})
	waitFor(t, "the refused handshake", func() bool { return a.Stats().Refused >= 1 && a.Stats().FailedHandshakes >= 1 })
	// The outsider's side of a refused handshake may complete (TLS 1.3
	// checks the client's certificate last), but nothing it opens arrives.
	if c, err := outsider.DialAddressTimeout(memberlist.Address{Addr: a.addr()}, 5*time.Second); err == nil {
		c.Write([]byte("forged push"))
		c.Close()
	}
	// a's own traffic to another peer is unaffected, and is the first
	// thing a receives.
	b := newNode(t, "b")
	b.WriteToAddress([]byte("real"), memberlist.Address{Addr: a.addr(), Name: "a"})
	if p := recvPacket(t, a); string(p.Buf) != "real" {
		t.Fatalf("a received %q, want only the member's packet", p.Buf)
	}
	if s := a.Stats(); s.Conns != 1 {
		t.Fatalf("a holds %d connections, want 1 (b's)", s.Conns)
	}
	select {
	case c := <-a.StreamCh():
		t.Fatalf("a refused peer's stream arrived from %v", c.RemoteAddr())
	default:
	}
}

// TestPacketForAnotherNodeDropped: the address of node b answers with
// another certificate (the address was taken over): packets meant for b
// are not sent there, and are counted.
func TestPacketForAnotherNodeDropped(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	a.WriteToAddress([]byte("for x"), memberlist.Address{Addr: b.addr(), Name: "x"})
	waitFor(t, "the refused send", func() bool { return a.Stats().WrongNode >= 1 })
	a.WriteToAddress([]byte("for b"), memberlist.Address{Addr: b.addr(), Name: "b"})
	if p := recvPacket(t, b); string(p.Buf) != "for b" {
		t.Fatalf("b received %q, want only the packet meant for it", p.Buf)
	}
	if _, err := a.DialAddressTimeout(memberlist.Address{Addr: b.addr(), Name: "x"}, 5*time.Second); err == nil {
		t.Fatal("a stream meant for x was opened to b")
	}
}

// TestRawPacketsDroppedAndCounted: UDP packets that are not QUIC of an
// authenticated connection (memberlist's clear wire format, garbage) are
// dropped and counted, and nothing reaches memberlist.
func TestRawPacketsDroppedAndCounted(t *testing.T) {
	a := newNode(t, "a")
	raw, err := net.Dial("udp", a.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	packets := [][]byte{
		{8, 0x81, 0xa4, 'N', 'o', 'd', 'e', 0xa2, 's', '2'}, // memberlist user message
		bytes.Repeat([]byte{0xc3}, 1200),                    // a long header of nothing
		{0x40, 1, 2, 3, 4, 5, 6, 7, 8},                      // a short header, no connection
	}
	for _, p := range packets {
		if _, err := raw.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the drops to be counted", func() bool { return a.Stats().DroppedPackets >= uint64(len(packets)) })
	select {
	case p := <-a.PacketCh():
		t.Fatalf("a raw packet reached memberlist: %q", p.Buf)
	default:
	}
}

// TestCloseFingerprint: the connections of a certificate that was revoked
// are closed, and it cannot connect again.
func TestCloseFingerprint(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	b.WriteToAddress([]byte("before"), memberlist.Address{Addr: a.addr(), Name: "a"})
	recvPacket(t, a)
	a.deny.deny(b.fingerprint())
	if n := a.CloseFingerprint(b.fingerprint()); n != 1 {
		t.Fatalf("closed %d connections, want 1", n)
	}
	waitFor(t, "b to see its connection closed", func() bool { return b.Stats().Conns == 0 })
	b.WriteToAddress([]byte("after"), memberlist.Address{Addr: a.addr(), Name: "a"})
	waitFor(t, "b's new handshake to be refused", func() bool { return a.Stats().Refused >= 1 })
	select {
	case p := <-a.PacketCh():
		t.Fatalf("a revoked peer's packet arrived: %q", p.Buf)
	default:
	}
}

// TestUnreachableAddress: packets to an address where nothing answers
// are dropped without blocking the sender, and counted.
func TestUnreachableAddress(t *testing.T) {
	a := newNode(t, "a")
	a.cfg.HandshakeTimeout = 200 * time.Millisecond
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // bound, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	start := time.Now()
	for range 3 {
		a.WriteToAddress([]byte("x"), memberlist.Address{Addr: pc.LocalAddr().String()})
	}
	if d := time.Since(start); d > a.cfg.HandshakeTimeout {
		t.Errorf("three sends took %v; a send must not wait for the handshake", d)
	}
	waitFor(t, "the queued packets to be dropped", func() bool { return a.Stats().DroppedSends >= 3 })
}

// TestFinalAdvertiseAddr: the advertised address defaults to the socket's.
func TestFinalAdvertiseAddr(t *testing.T) {
	a := newNode(t, "a")
	_, port, _ := net.SplitHostPort(a.addr())
	ip, p, err := a.FinalAdvertiseAddr("", 0)
	if err != nil || ip.String() != "127.0.0.1" || fmt.Sprint(p) != port {
		t.Fatalf("FinalAdvertiseAddr = %v, %d, %v; want 127.0.0.1:%s", ip, p, err, port)
	}
	ip, p, err = a.FinalAdvertiseAddr("127.0.0.2", 7000)
	if err != nil || ip.String() != "127.0.0.2" || p != 7000 {
		t.Fatalf("FinalAdvertiseAddr = %v, %d, %v; want the configured address", ip, p, err)
	}
	if _, _, err := a.FinalAdvertiseAddr("not-an-ip", 0); err == nil {
		t.Fatal("a host name was accepted as the advertise address")
	}
}

// TestSendAfterShutdown fails cleanly.
func TestSendAfterShutdown(t *testing.T) {
	a := newNode(t, "a")
	a.Shutdown()
	if _, err := a.WriteTo([]byte("x"), "127.0.0.1:1"); !errors.Is(err, ErrShutdown) {
		t.Fatalf("WriteTo after Shutdown: %v, want ErrShutdown", err)
	}
	if _, err := a.DialTimeout("127.0.0.1:1", time.Second); !errors.Is(err, ErrShutdown) {
		t.Fatalf("DialTimeout after Shutdown: %v, want ErrShutdown", err)
	}
}

// TestPeerRestartedOnItsAddress: a peer restarts on the same address with
// the same certificate. The connection to its earlier run is reset at the
// next packet (the stateless reset key comes from the certificate), and
// the packet after that reaches the new run, long before the stale
// connection would have idled out.
func TestPeerRestartedOnItsAddress(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	a.WriteToAddress([]byte("first"), memberlist.Address{Addr: b.addr(), Name: "b"})
	recvPacket(t, b)
	addr := b.addr()
	b.cfg.PacketConn.Close() // as a crash: a is not told the connection closed
	b.Shutdown()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	again, err := New(Config{PacketConn: pc, Certificate: b.cert, Verify: b.deny.verify})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Shutdown()
	// A packet the size of a probe: QUIC answers only packets larger than
	// a reset with one (a tiny one could be a reset itself).
	probe := bytes.Repeat([]byte{'p'}, 120)
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.WriteToAddress(probe, memberlist.Address{Addr: addr, Name: "b"})
		select {
		case p := <-again.PacketCh():
			if !bytes.Equal(p.Buf, probe) {
				t.Fatalf("got %q", p.Buf)
			}
			return
		case <-time.After(100 * time.Millisecond): // resend interval
		}
		if time.Now().After(deadline) {
			t.Fatal("the restarted peer got nothing: a keeps sending into the stale connection")
		}
	}
}
