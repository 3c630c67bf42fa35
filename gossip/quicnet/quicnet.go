// Package quicnet carries gossip over QUIC with mutual TLS. It is a
// memberlist transport: memberlist's packets (probes, acks, gossip) travel
// as QUIC datagrams and its push-pull exchanges as QUIC streams, all on
// one UDP port. Every connection is mutually authenticated: a peer whose
// certificate the caller's Verify refuses never gets a byte to
// memberlist, and a packet or stream meant for a named node goes only to
// a peer that CheckNode accepts as that node.
//
// Connections are made on first use and kept while they carry traffic;
// one left idle for IdleTimeout closes. Either side's connection serves
// both directions.
package quicnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/quic-go/quic-go"

	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// ALPN is the application protocol gossip connections negotiate; a QUIC
// client of another protocol (the RPC endpoint's) is refused.
const ALPN = "edgeplane-gossip/1"

// Defaults for Config fields left zero.
const (
	DefaultIdleTimeout      = 30 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultMaxConns         = 1024
)

const (
	// maxQueued bounds the packets held for an address while its
	// connection is being made; more are dropped (gossip is lossy).
	maxQueued = 32
	// redialAfter is how long an address whose dial failed is not dialed
	// again; packets for it are dropped meanwhile.
	redialAfter = time.Second
	// channelDepth is the depth of the packet and stream channels
	// memberlist reads.
	channelDepth = 256
	// maxStreamsPerConn bounds the push-pull streams a peer may have
	// open at once.
	maxStreamsPerConn = 8
)

// QUIC application error codes.
const (
	codeShutdown quic.ApplicationErrorCode = 0x10
	codeTooMany  quic.ApplicationErrorCode = 0x13
)

// MaxPacket is the largest packet WriteToAddress sends: what a QUIC
// datagram carries on a path of the minimum QUIC MTU (1280 bytes, IPv6),
// with room for the headers. memberlist must build no larger packets
// (its UDPBufferSize); larger ones are dropped and counted.
const MaxPacket = 1150

// ErrShutdown is returned by sends and dials after Shutdown.
var ErrShutdown = errors.New("quicnet: transport shut down")

// Peer is the authenticated identity at the other end of a connection.
type Peer struct {
	// Node is the node name the certificate carries, as Verify returned it.
	Node string
	// Fingerprint is the SHA-256 of the peer's leaf certificate.
	Fingerprint []byte
}

// Config configures a Transport. PacketConn, Certificate and Verify are
// required.
type Config struct {
	// PacketConn is the bound UDP socket. The transport owns it from New
	// and closes it at Shutdown.
	PacketConn net.PacketConn
	// Certificate is this node's certificate, presented to every peer
	// unless GetCertificate is set; it also derives the stateless reset
	// key.
	Certificate *tls.Certificate
	// GetCertificate, if set, is asked at every handshake for the
	// certificate to present: a new one serves the next handshakes while
	// open connections keep theirs. It must not return nil.
	GetCertificate func() *tls.Certificate
	// Verify checks a peer's certificate at every handshake, as server and
	// as client, and returns the node it names; an error refuses the
	// connection (counted in Stats.Refused).
	Verify func(cs tls.ConnectionState) (node string, err error)
	// CheckNode checks, before anything is sent to the node memberlist
	// names, that the connection's peer is that node; an error drops the
	// packet or fails the dial (counted in Stats.WrongNode). Nil accepts
	// any authenticated peer.
	CheckNode func(node string, peer Peer) error
	// IdleTimeout closes a connection that carried nothing for this long.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds a connection's handshake.
	HandshakeTimeout time.Duration
	// MaxConns bounds the open connections; a peer connecting past it is
	// turned away.
	MaxConns int
	// Logger receives the transport's logs. Default slog.Default().
	Logger *slog.Logger
}

// Stats are the transport's counters since New.
type Stats struct {
	Conns      int    // open connections
	Handshakes uint64 // connections made, both directions
	Refused    uint64 // handshakes Verify refused
	// FailedHandshakes are incoming connections whose handshake did not
	// complete: Verify refused the peer, the peer refused this node's
	// certificate (one of another fleet), or it gave up.
	FailedHandshakes uint64
	WrongNode        uint64 // sends and dials CheckNode refused
	// DroppedPackets are UDP packets QUIC dropped unread: not QUIC, not
	// decryptable, for no connection.
	DroppedPackets uint64
	// DroppedSends are packets not sent: no connection could be made, too
	// many queued, or too large for a datagram.
	DroppedSends uint64
}

// Transport is a memberlist.NodeAwareTransport over QUIC.
type Transport struct {
	cfg       Config
	log       *slog.Logger
	qt        *quic.Transport
	ln        *quic.Listener
	serverTLS *tls.Config
	qconf     *quic.Config

	packets chan *memberlist.Packet
	streams chan net.Conn

	ctx  context.Context // ends at Shutdown
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu      sync.Mutex
	conns   map[*quic.Conn]*conn
	byAddr  map[string]*conn // the connection to use for an address
	dialing map[string]*dial
	failed  map[string]time.Time // when a dial to the address last failed
	closed  bool

	handshakes, refused, halfOpen, wrongNode, droppedSends atomic.Uint64
	drops                                                  dropCounter
}

// conn is an open connection and the peer it authenticated.
type conn struct {
	qc   *quic.Conn
	peer Peer
	// addrs are the keys of byAddr that lead to it: the remote address,
	// and the address it was dialled by when that is spelled otherwise
	// (a host name). Guarded by Transport.mu.
	addrs []string
}

// dial is a connection being made; packets for its address wait in queue.
type dial struct {
	done  chan struct{}
	c     *conn // set when done, nil if the dial failed
	err   error
	queue []queued // guarded by Transport.mu
}

type queued struct {
	b    []byte
	node string
}

// New starts a transport on cfg.PacketConn: it answers handshakes at once,
// and hands what authenticated peers send to PacketCh and StreamCh.
func New(cfg Config) (*Transport, error) {
	switch {
	case cfg.PacketConn == nil:
		return nil, errors.New("quicnet: PacketConn is required")
	case cfg.Certificate == nil:
		return nil, errors.New("quicnet: Certificate is required")
	case cfg.Verify == nil:
		return nil, errors.New("quicnet: Verify is required")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &Transport{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "gossip-quic"),
		packets: make(chan *memberlist.Packet, channelDepth),
		streams: make(chan net.Conn, channelDepth),
		conns:   make(map[*quic.Conn]*conn),
		byAddr:  make(map[string]*conn),
		dialing: make(map[string]*dial),
		failed:  make(map[string]time.Time),
	}
	t.ctx, t.stop = context.WithCancel(context.Background())
	t.serverTLS = &tls.Config{
		ClientAuth:       tls.RequireAnyClientCert,
		NextProtos:       []string{ALPN},
		MinVersion:       tls.VersionTLS13,
		VerifyConnection: t.verify,
	}
	t.present(t.serverTLS)
	t.qconf = &quic.Config{
		EnableDatagrams:       true,
		MaxIdleTimeout:        cfg.IdleTimeout,
		HandshakeIdleTimeout:  cfg.HandshakeTimeout,
		MaxIncomingStreams:    maxStreamsPerConn,
		MaxIncomingUniStreams: -1, // gossip opens none
	}
	t.qt = &quic.Transport{Conn: cfg.PacketConn, Tracer: &t.drops, ConnContext: t.connContext}
	// Derived from the certificate, the reset key survives a restart: a
	// peer still holding a connection to this node's earlier run is told
	// at its next packet that the connection is gone, and dials again,
	// instead of sending into it until it idles out.
	if k, ok := tlsmesh.DeriveKey(cfg.Certificate, "edgeplane gossip stateless reset key"); ok {
		t.qt.StatelessResetKey = (*quic.StatelessResetKey)(&k)
	}
	ln, err := t.qt.Listen(t.serverTLS, t.qconf)
	if err != nil {
		t.qt.Close()
		cfg.PacketConn.Close()
		return nil, fmt.Errorf("quicnet: listen on %s: %w", cfg.PacketConn.LocalAddr(), err)
	}
	t.ln = ln
	// QUIC hands packets that are not QUIC over only once they are asked
	// for: ask now, so that none arriving before dropNonQUIC runs is lost
	// uncounted.
	asked, cancel := context.WithCancel(t.ctx)
	cancel()
	t.qt.ReadNonQUICPacket(asked, nil)
	t.wg.Go(t.accept)
	t.wg.Go(t.dropNonQUIC)
	return t, nil
}

// present makes c present this node's certificate, as server and client.
func (t *Transport) present(c *tls.Config) {
	get := t.cfg.GetCertificate
	if get == nil {
		c.Certificates = []tls.Certificate{*t.cfg.Certificate}
		return
	}
	c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return get(), nil }
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return get(), nil }
}

// verify runs Verify at a handshake and counts refusals.
func (t *Transport) verify(cs tls.ConnectionState) error {
	if _, err := t.cfg.Verify(cs); err != nil {
		t.refused.Add(1)
		t.log.Debug("refused a gossip peer", "err", err)
		return err
	}
	return nil
}

func (t *Transport) accept() {
	for {
		qc, err := t.ln.Accept(t.ctx)
		if err != nil {
			return
		}
		if _, err := t.add(qc); err != nil {
			t.log.Debug("turned a gossip peer away", "remote", qc.RemoteAddr(), "err", err)
		}
	}
}

// handshakeDone marks, in an incoming connection's context, that its
// handshake completed.
type handshakeDone struct{}

// connContext counts the incoming connections that close before their
// handshake completed: ctx ends when the connection does.
func (t *Transport) connContext(ctx context.Context, _ *quic.ClientInfo) (context.Context, error) {
	done := new(atomic.Bool)
	context.AfterFunc(ctx, func() {
		if !done.Load() {
			t.halfOpen.Add(1)
		}
	})
	return context.WithValue(ctx, handshakeDone{}, done), nil
}

// dropNonQUIC reads and counts the packets that are not QUIC at all
// (memberlist's clear wire format among them), which QUIC would otherwise
// drop without a trace.
func (t *Transport) dropNonQUIC() {
	buf := make([]byte, 1500)
	for {
		if _, _, err := t.qt.ReadNonQUICPacket(t.ctx, buf); err != nil {
			return
		}
		t.drops.n.Add(1)
	}
}

// add takes a new connection into the transport and starts serving it.
func (t *Transport) add(qc *quic.Conn) (*conn, error) {
	cs := qc.ConnectionState().TLS
	c := &conn{qc: qc}
	if len(cs.PeerCertificates) > 0 {
		c.peer.Fingerprint = tlsmesh.Fingerprint(cs.PeerCertificates[0].Raw)
	}
	if done, ok := qc.Context().Value(handshakeDone{}).(*atomic.Bool); ok {
		done.Store(true)
	}
	if len(cs.PeerCertificates) > 0 { // Verify passed it at the handshake
		c.peer.Node, _ = tlsmesh.NodeName(cs.PeerCertificates[0])
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		qc.CloseWithError(codeShutdown, "shutting down")
		return nil, ErrShutdown
	case len(t.conns) >= t.cfg.MaxConns:
		qc.CloseWithError(codeTooMany, "too many connections")
		return nil, fmt.Errorf("quicnet: %d connections open, the limit", len(t.conns))
	}
	t.handshakes.Add(1)
	t.conns[qc] = c
	t.route(c, qc.RemoteAddr().String())
	t.wg.Go(func() { t.serve(c) })
	return c, nil
}

// serve reads a connection's datagrams and accepts its streams until it
// closes, then forgets it.
func (t *Transport) serve(c *conn) {
	var streams sync.WaitGroup
	streams.Go(func() {
		for {
			s, err := c.qc.AcceptStream(t.ctx)
			if err != nil {
				return
			}
			select {
			case t.streams <- &streamConn{Stream: s, qc: c.qc}:
			case <-t.ctx.Done():
				s.CancelRead(0)
				s.CancelWrite(0)
				return
			}
		}
	})
	from := c.qc.RemoteAddr()
	for {
		b, err := c.qc.ReceiveDatagram(t.ctx)
		if err != nil {
			break
		}
		select {
		case t.packets <- &memberlist.Packet{Buf: b, From: from, Timestamp: time.Now()}:
		case <-t.ctx.Done():
		}
	}
	c.qc.CloseWithError(0, "")
	streams.Wait()
	t.mu.Lock()
	delete(t.conns, c.qc)
	for _, addr := range c.addrs {
		if t.byAddr[addr] == c {
			delete(t.byAddr, addr)
		}
	}
	t.mu.Unlock()
}

// route makes c the connection for addr. t.mu is held.
func (t *Transport) route(c *conn, addr string) {
	t.byAddr[addr] = c
	c.addrs = append(c.addrs, addr)
}

// FinalAdvertiseAddr returns the address memberlist announces: ip and
// port as configured, or else the socket's (a private address in place
// of an unspecified one).
func (t *Transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	bound, ok := t.cfg.PacketConn.LocalAddr().(*net.UDPAddr)
	if !ok {
		return nil, 0, fmt.Errorf("quicnet: socket address %v is not UDP", t.cfg.PacketConn.LocalAddr())
	}
	if port == 0 {
		port = bound.Port
	}
	if ip != "" {
		addr := net.ParseIP(ip)
		if addr == nil {
			return nil, 0, fmt.Errorf("quicnet: advertise address %q is not an IP address", ip)
		}
		if v4 := addr.To4(); v4 != nil {
			addr = v4
		}
		return addr, port, nil
	}
	if !bound.IP.IsUnspecified() {
		return bound.IP, port, nil
	}
	priv, err := privateIP()
	if err != nil {
		return nil, 0, err
	}
	return priv, port, nil
}

// WriteTo sends a packet to addr, with no node to check it against.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends b as one datagram to the node at a. It does not
// wait for a connection to be made: the packet waits for it, and is
// dropped if none can be (memberlist treats packets as lossy).
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return now, ErrShutdown
	}
	if c := t.byAddr[a.Addr]; c != nil {
		t.mu.Unlock()
		t.send(c, b, a.Name)
		return now, nil
	}
	if d := t.dialing[a.Addr]; d != nil {
		if len(d.queue) < maxQueued {
			d.queue = append(d.queue, queued{b: b, node: a.Name})
		} else {
			t.droppedSends.Add(1)
		}
		t.mu.Unlock()
		return now, nil
	}
	if when, ok := t.failed[a.Addr]; ok {
		if now.Sub(when) < redialAfter {
			t.mu.Unlock()
			t.droppedSends.Add(1)
			return now, nil
		}
		delete(t.failed, a.Addr)
	}
	d := t.startDial(a.Addr)
	d.queue = append(d.queue, queued{b: b, node: a.Name})
	t.mu.Unlock()
	return now, nil
}

// send sends one datagram on c if its peer is node.
func (t *Transport) send(c *conn, b []byte, node string) {
	if err := t.checkNode(c, node); err != nil {
		t.log.Debug("dropped a gossip packet for another node's address", "err", err)
		return
	}
	if err := c.qc.SendDatagram(b); err != nil {
		t.droppedSends.Add(1)
		t.log.Debug("dropped a gossip packet", "remote", c.qc.RemoteAddr(), "size", len(b), "err", err)
	}
}

func (t *Transport) checkNode(c *conn, node string) error {
	if node == "" || t.cfg.CheckNode == nil {
		return nil
	}
	if err := t.cfg.CheckNode(node, c.peer); err != nil {
		t.wrongNode.Add(1)
		return fmt.Errorf("quicnet: peer at %s is not node %q: %w", c.qc.RemoteAddr(), node, err)
	}
	return nil
}

// startDial begins a connection to addr. t.mu is held.
func (t *Transport) startDial(addr string) *dial {
	d := &dial{done: make(chan struct{})}
	t.dialing[addr] = d
	t.wg.Go(func() {
		c, err := t.connect(addr)
		t.mu.Lock()
		delete(t.dialing, addr)
		queue := d.queue
		d.queue = nil
		d.c, d.err = c, err
		if err != nil {
			t.failed[addr] = time.Now()
		} else if t.byAddr[addr] != c && t.conns[c.qc] == c {
			t.route(c, addr) // dialled by a name: reach it by that name too
		}
		t.mu.Unlock()
		close(d.done)
		if err != nil {
			t.droppedSends.Add(uint64(len(queue)))
			t.log.Debug("no gossip connection", "addr", addr, "err", err)
			return
		}
		for _, q := range queue {
			t.send(c, q.b, q.node)
		}
	})
	return d
}

// connect makes a connection to addr and adds it.
func (t *Transport) connect(addr string) (*conn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("quicnet: %w", err)
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	clientTLS := &tls.Config{
		// The peer is checked by Verify in VerifyConnection, not against
		// a host name.
		InsecureSkipVerify: true,
		ServerName:         "edgeplane",
		NextProtos:         []string{ALPN},
		MinVersion:         tls.VersionTLS13,
		VerifyConnection:   t.verify,
	}
	t.present(clientTLS)
	qc, err := t.qt.Dial(ctx, ua, clientTLS, t.qconf)
	if err != nil {
		return nil, fmt.Errorf("quicnet: dial %s: %w", addr, err)
	}
	return t.add(qc)
}

// connTo returns the connection to addr, making it if needed, within ctx.
func (t *Transport) connTo(ctx context.Context, addr string) (*conn, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, ErrShutdown
	}
	if c := t.byAddr[addr]; c != nil {
		t.mu.Unlock()
		return c, nil
	}
	d := t.dialing[addr]
	if d == nil {
		d = t.startDial(addr)
	}
	t.mu.Unlock()
	select {
	case <-d.done:
		return d.c, d.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// DialTimeout opens a stream to addr, with no node to check it against.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream to the node at a.
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressContext(context.Background(), a, timeout)
}

// DialAddressContext opens a stream to the node at a, giving up when ctx
// ends or after timeout.
func (t *Transport) DialAddressContext(ctx context.Context, a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel)
	defer stop()
	c, err := t.connTo(ctx, a.Addr)
	if err != nil {
		return nil, err
	}
	if err := t.checkNode(c, a.Name); err != nil {
		return nil, err
	}
	s, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("quicnet: stream to %s: %w", a.Addr, err)
	}
	return &streamConn{Stream: s, qc: c.qc}, nil
}

// MaxPacketSize returns MaxPacket, for the mesh to size memberlist's
// packets by.
func (t *Transport) MaxPacketSize() int { return MaxPacket }

// PacketCh returns the packets authenticated peers sent.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// StreamCh returns the streams authenticated peers opened.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streams }

// CloseFingerprint closes every connection whose peer presented the
// certificate with fingerprint fp (a revoked node's), and reports how many
// it closed. Verify must refuse the certificate from now on, or the peer
// connects again.
func (t *Transport) CloseFingerprint(fp []byte) int {
	t.mu.Lock()
	var hit []*quic.Conn
	for qc, c := range t.conns {
		if string(c.peer.Fingerprint) == string(fp) {
			hit = append(hit, qc)
		}
	}
	t.mu.Unlock()
	for _, qc := range hit {
		qc.CloseWithError(codeShutdown, "revoked")
	}
	return len(hit)
}

// Stats returns the transport's counters.
func (t *Transport) Stats() Stats {
	t.mu.Lock()
	n := len(t.conns)
	t.mu.Unlock()
	return Stats{
		Conns:            n,
		Handshakes:       t.handshakes.Load(),
		Refused:          t.refused.Load(),
		FailedHandshakes: t.halfOpen.Load(),
		WrongNode:        t.wrongNode.Load(),
		DroppedPackets:   t.drops.n.Load(),
		DroppedSends:     t.droppedSends.Load(),
	}
}

// Shutdown closes every connection and the socket, and waits for the
// transport's goroutines.
func (t *Transport) Shutdown() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	conns := make([]*quic.Conn, 0, len(t.conns))
	for qc := range t.conns {
		conns = append(conns, qc)
	}
	t.mu.Unlock()
	t.stop()
	for _, qc := range conns {
		qc.CloseWithError(codeShutdown, "shutting down")
	}
	t.ln.Close()
	err := t.qt.Close()
	t.wg.Wait()
	if cerr := t.cfg.PacketConn.Close(); err == nil {
		err = cerr
	}
	return err
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)
