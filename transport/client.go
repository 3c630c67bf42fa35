package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/edgeplane/edgeplane/transport/resilience"
	"github.com/quic-go/quic-go"
)

// Client calls peers. It keeps one QUIC connection per peer, shared by all
// calls to it, dialled on first use and again after it breaks. A Client is
// safe for concurrent use; Close it when done.
type Client struct {
	cfg      ClientConfig
	codec    *codec
	invoke   Invoker
	quicConf *quic.Config
	tr       *quic.Transport
	pc       net.PacketConn

	ctx    context.Context // ends at Close; bounds dials
	cancel context.CancelFunc
	dials  sync.WaitGroup

	mu      sync.RWMutex
	peers   map[peerKey]*peerConn
	targets []*Target
	closed  bool
}

type peerKey struct{ node, addr string }

// peerConn is the connection to one peer and the calls in flight to it.
type peerConn struct {
	key         peerKey
	conn        atomic.Pointer[quic.Conn]
	outstanding atomic.Int64

	mu   sync.Mutex
	dial *dialing // non-nil while a dial is in flight
}

type dialing struct {
	done chan struct{}
	err  error
}

// NewClient checks cfg and opens the client's UDP socket.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cd, err := newCodec(cfg.Limits)
	if err != nil {
		return nil, err
	}
	pc := cfg.PacketConn
	if pc == nil {
		if pc, err = net.ListenUDP("udp", nil); err != nil {
			return nil, fmt.Errorf("transport: client socket: %w", err)
		}
	}
	c := &Client{
		cfg:   cfg,
		codec: cd,
		// A client accepts no streams from servers.
		quicConf: quicConfig(-1, cfg.KeepAlive, cfg.IdleTimeout, cfg.DialTimeout),
		tr:       &quic.Transport{Conn: pc},
		pc:       pc,
		peers:    make(map[peerKey]*peerConn),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.invoke = chain(cfg.Interceptors, c.roundTrip)
	return c, nil
}

func (c *Client) peer(p Peer) (*peerConn, error) {
	k := peerKey{p.Node, p.Addr}
	c.mu.RLock()
	pc, ok := c.peers[k]
	closed := c.closed
	c.mu.RUnlock()
	if closed {
		return nil, ErrClientClosed
	}
	if ok {
		return pc, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClientClosed
	}
	if pc, ok = c.peers[k]; !ok {
		pc = &peerConn{key: k}
		c.peers[k] = pc
	}
	return pc, nil
}

// outstanding returns the number of calls in flight to p.
func (c *Client) outstanding(p Peer) int {
	c.mu.RLock()
	pc, ok := c.peers[peerKey{p.Node, p.Addr}]
	c.mu.RUnlock()
	if !ok {
		return 0
	}
	return int(pc.outstanding.Load())
}

func live(conn *quic.Conn) bool { return conn != nil && conn.Context().Err() == nil }

// connect returns the live connection to the peer, dialling if needed.
// Concurrent callers share one dial; each may give up on its own context
// without cancelling the dial for the others.
func (c *Client) connect(ctx context.Context, pc *peerConn) (*quic.Conn, error) {
	for {
		if conn := pc.conn.Load(); live(conn) {
			return conn, nil
		}
		pc.mu.Lock()
		if conn := pc.conn.Load(); live(conn) {
			pc.mu.Unlock()
			return conn, nil
		}
		d := pc.dial
		if d == nil {
			d = &dialing{done: make(chan struct{})}
			pc.dial = d
			c.mu.RLock()
			closed := c.closed
			if !closed {
				c.dials.Add(1)
			}
			c.mu.RUnlock()
			if closed {
				pc.dial = nil
				pc.mu.Unlock()
				return nil, ErrClientClosed
			}
			go c.dialPeer(pc, d)
		}
		pc.mu.Unlock()
		select {
		case <-d.done:
			if d.err != nil {
				return nil, d.err
			}
		case <-ctx.Done():
			return nil, ctxError(ctx, true)
		}
	}
}

func (c *Client) dialPeer(pc *peerConn, d *dialing) {
	defer c.dials.Done()
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.DialTimeout)
	defer cancel()
	conn, err := c.dialOnce(ctx, pc.key)
	pc.mu.Lock()
	if err != nil {
		d.err = err
	} else {
		pc.conn.Store(conn)
	}
	pc.dial = nil
	pc.mu.Unlock()
	close(d.done)
}

func (c *Client) dialOnce(ctx context.Context, k peerKey) (*quic.Conn, error) {
	addr, err := net.ResolveUDPAddr("udp", k.addr)
	if err != nil {
		return nil, &Error{Code: Unavailable, Message: "resolve " + k.addr + ": " + err.Error(), Unprocessed: true, cause: err}
	}
	conn, err := c.tr.Dial(ctx, addr, clientTLS(c.cfg.TLS, k.node), c.quicConf)
	if err != nil {
		return nil, dialError(ctx, k, err)
	}
	return conn, nil
}

// dialError classifies a failed dial. Nothing was sent, so every dial
// failure is Unprocessed.
func dialError(ctx context.Context, k peerKey, err error) *Error {
	msg := "dial " + k.node + " at " + k.addr + ": "
	var te *quic.TransportError
	if errors.As(err, &te) && te.ErrorCode.IsCryptoError() {
		return &Error{Code: Unauthenticated, Message: msg + "handshake refused: " + err.Error(), Unprocessed: true, cause: err}
	}
	if ctx.Err() != nil {
		return &Error{Code: Unavailable, Message: msg + "timed out", Unprocessed: true, cause: err}
	}
	return &Error{Code: Unavailable, Message: msg + err.Error(), Unprocessed: true, cause: err}
}

// dropConn forgets conn, which has closed, if it is still the peer's
// connection, so the next call dials again.
func (pc *peerConn) dropConn(conn *quic.Conn) {
	pc.conn.CompareAndSwap(conn, nil)
}

// ClosePeer closes the connections to every peer at addr (for example
// when it left the mesh). Calls in flight to it fail.
func (c *Client) ClosePeer(addr string) {
	c.mu.Lock()
	var drop []*peerConn
	for k, pc := range c.peers {
		if k.addr == addr {
			drop = append(drop, pc)
			delete(c.peers, k)
		}
	}
	c.mu.Unlock()
	for _, pc := range drop {
		if conn := pc.conn.Swap(nil); conn != nil {
			conn.CloseWithError(codeNoError, "peer forgotten")
		}
	}
}

// Close closes every connection and the client's socket. Calls in flight
// fail; later calls fail with ErrClientClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	peers := c.peers
	c.peers = map[peerKey]*peerConn{}
	c.mu.Unlock()
	c.cancel()
	c.dials.Wait()
	for _, pc := range peers {
		if conn := pc.conn.Swap(nil); conn != nil {
			conn.CloseWithError(codeClientClosed, "client closed")
		}
	}
	c.tr.Close()
	return c.pc.Close()
}

// BreakerState reports the circuit breaker state of the peer at addr: the
// most restrictive state among the targets that track it (open, then
// half-open, then closed).
func (c *Client) BreakerState(addr string) resilience.State {
	c.mu.RLock()
	targets := append([]*Target(nil), c.targets...)
	c.mu.RUnlock()
	worst := resilience.Closed
	for _, t := range targets {
		switch s := t.BreakerState(addr); {
		case s == resilience.Open:
			return s
		case s == resilience.HalfOpen:
			worst = s
		}
	}
	return worst
}

// BreakerStat is the state of one peer's circuit breaker.
type BreakerStat struct {
	// Addr is the peer's address; Node its name, as the last call to it
	// named it ("" if none did).
	Addr, Node string
	State      resilience.State
}

// Breakers reports the circuit breaker of every peer the client's targets
// have called, by address, each in its most restrictive state among the
// targets (open, then half-open, then closed).
func (c *Client) Breakers() []BreakerStat {
	c.mu.RLock()
	targets := append([]*Target(nil), c.targets...)
	c.mu.RUnlock()
	byAddr := map[string]int{}
	var out []BreakerStat
	for _, t := range targets {
		t.mu.Lock()
		now := t.c.cfg.Clock.Now()
		for addr, b := range t.breakers {
			st := BreakerStat{Addr: addr, Node: t.nodes[addr], State: b.State(now)}
			i, ok := byAddr[addr]
			if !ok {
				byAddr[addr] = len(out)
				out = append(out, st)
				continue
			}
			if restrictive(st.State) > restrictive(out[i].State) {
				out[i].State = st.State
			}
			if out[i].Node == "" {
				out[i].Node = st.Node
			}
		}
		t.mu.Unlock()
	}
	return out
}

// restrictive ranks breaker states: closed, half-open, open.
func restrictive(s resilience.State) int {
	switch s {
	case resilience.Open:
		return 2
	case resilience.HalfOpen:
		return 1
	}
	return 0
}
