package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
)

// Decoder decodes a call's request into v.
type Decoder interface {
	Decode(v any) error
}

// Sender sends one message of a streaming reply.
type Sender interface {
	Send(v any) error
}

// UnaryHandler serves a unary call: it decodes the request with req and
// returns the response (encoded as CBOR) or an error (sent as a status:
// an *Error or Code keeps its code, a context error becomes
// DeadlineExceeded or Canceled, anything else Unknown).
type UnaryHandler func(ctx context.Context, req Decoder) (resp any, err error)

// StreamHandler serves a server-streaming call: it decodes the request
// with req and sends any number of messages with out. The call ends with
// the status of the returned error. ctx ends when the caller cancels, and
// Send then fails.
type StreamHandler func(ctx context.Context, req Decoder, out Sender) error

// Unary adapts a typed function to a UnaryHandler.
func Unary[Req, Resp any](fn func(ctx context.Context, req *Req) (*Resp, error)) UnaryHandler {
	return func(ctx context.Context, dec Decoder) (any, error) {
		req := new(Req)
		if err := dec.Decode(req); err != nil {
			return nil, err
		}
		resp, err := fn(ctx, req)
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
}

// ServerStreaming adapts a typed function to a StreamHandler.
func ServerStreaming[Req, Msg any](fn func(ctx context.Context, req *Req, send func(*Msg) error) error) StreamHandler {
	return func(ctx context.Context, dec Decoder, out Sender) error {
		req := new(Req)
		if err := dec.Decode(req); err != nil {
			return err
		}
		return fn(ctx, req, func(m *Msg) error { return out.Send(m) })
	}
}

type handler struct {
	unary  UnaryHandler
	stream StreamHandler
}

// QUIC application error codes, on connections and streams.
const (
	codeNoError         quic.ApplicationErrorCode = 0
	codeShutdown        quic.ApplicationErrorCode = 0x10
	codeUnauthenticated quic.ApplicationErrorCode = 0x11
	codeClientClosed    quic.ApplicationErrorCode = 0x12

	streamCanceled         quic.StreamErrorCode = 0x1
	streamDeadlineExceeded quic.StreamErrorCode = 0x2
	streamRejected         quic.StreamErrorCode = 0x3
)

// Server serves calls on one QUIC listener. Register handlers, then Listen
// and Serve; Shutdown drains it.
type Server struct {
	cfg      ServerConfig
	codec    *codec
	invoke   Invoker
	tlsConf  *tls.Config
	quicConf *quic.Config

	hmu      sync.Mutex
	handlers atomic.Pointer[map[string]handler]

	mu      sync.Mutex
	pc      net.PacketConn
	tr      *quic.Transport
	ln      *quic.Listener
	conns   map[*quic.Conn]struct{}
	serving bool
	closed  bool
	wg      sync.WaitGroup // connection set-up and workers

	draining atomic.Bool
	inflight atomic.Int64
	idle     chan struct{}
}

// NewServer checks cfg and returns a server with no handlers.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c, err := newCodec(cfg.Limits)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		codec:    c,
		tlsConf:  serverTLS(cfg.TLS, cfg.Logger),
		quicConf: quicConfig(cfg.MaxConcurrentStreams, cfg.KeepAlive, cfg.IdleTimeout, cfg.HandshakeTimeout),
		conns:    make(map[*quic.Conn]struct{}),
		idle:     make(chan struct{}, 1),
	}
	s.invoke = chain(cfg.Interceptors, s.dispatch)
	empty := map[string]handler{}
	s.handlers.Store(&empty)
	return s, nil
}

// Handle registers a unary handler for method, replacing any before.
func (s *Server) Handle(method string, h UnaryHandler) { s.register(method, handler{unary: h}) }

// HandleStream registers a server-streaming handler for method.
func (s *Server) HandleStream(method string, h StreamHandler) {
	s.register(method, handler{stream: h})
}

func (s *Server) register(method string, h handler) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	old := *s.handlers.Load()
	m := make(map[string]handler, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[method] = h
	s.handlers.Store(&m)
}

// Listen binds the UDP socket, so Addr is known before Serve. Serve calls
// it if needed.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	if s.ln != nil {
		return nil
	}
	pc := s.cfg.PacketConn
	if pc == nil {
		var err error
		if pc, err = net.ListenPacket("udp", s.cfg.Addr); err != nil {
			return fmt.Errorf("transport: listen: %w", err)
		}
	}
	tr := &quic.Transport{Conn: pc, StatelessResetKey: statelessResetKey(s.cfg.TLS.Certificate)}
	ln, err := tr.Listen(s.tlsConf, s.quicConf)
	if err != nil {
		tr.Close()
		pc.Close()
		return fmt.Errorf("transport: listen: %w", err)
	}
	s.pc, s.tr, s.ln = pc, tr, ln
	return nil
}

// Addr returns the address the server listens on, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Serve accepts connections until Shutdown or Close, or until ctx ends
// (which closes the server at once). It returns ErrServerClosed then.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return errors.New("transport: Serve called twice")
	}
	s.serving = true
	ln := s.ln
	s.mu.Unlock()

	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	for {
		conn, err := ln.Accept(context.Background())
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			return fmt.Errorf("transport: accept: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.CloseWithError(codeShutdown, "server shutting down")
			continue
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(conn)
	}
}

func (s *Server) leave() {
	if s.inflight.Add(-1) == 0 && s.draining.Load() {
		select {
		case s.idle <- struct{}{}:
		default:
		}
	}
}

// Shutdown stops accepting connections, answers new calls Unavailable
// (which callers may retry elsewhere), and waits for calls in flight to
// finish. It then gives each connection time for its last replies to
// reach the client (a linger of four round trips plus 50ms, at most 2s)
// and closes it. Shutdown gives up waiting when ctx ends: it then closes
// every connection at once, cancelling the contexts of handlers still
// running, and returns ctx's error once they have returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	var err error
	for s.inflight.Load() > 0 && err == nil {
		select {
		case <-s.idle:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err == nil {
		s.linger(ctx)
	}
	s.closeAll()
	return err
}

// Longest and shortest time a connection is kept open after its last
// call, for the replies to be delivered (and retransmitted once if lost).
const (
	minLinger = 50 * time.Millisecond
	maxLinger = 2 * time.Second
)

// linger waits until every connection is closed by its client or has
// lingered long enough, or until ctx ends.
func (s *Server) linger(ctx context.Context) {
	s.mu.Lock()
	conns := make([]*quic.Conn, 0, len(s.conns))
	wait := time.Duration(0)
	for c := range s.conns {
		conns = append(conns, c)
		wait = max(wait, min(4*c.ConnectionStats().SmoothedRTT+minLinger, maxLinger))
	}
	s.mu.Unlock()
	if len(conns) == 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for _, c := range conns {
		select {
		case <-c.Context().Done():
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// stopAccepting closes the listener and answers new calls Unavailable.
func (s *Server) stopAccepting() {
	s.draining.Store(true)
	s.mu.Lock()
	s.closed = true
	ln := s.ln
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// Close closes the server at once: calls in flight are cut off and their
// handlers' contexts cancelled. It returns once those handlers have
// returned, so no goroutine of the server outlives it.
func (s *Server) Close() error {
	s.stopAccepting()
	s.closeAll()
	return nil
}

func (s *Server) closeAll() {
	s.mu.Lock()
	conns := make([]*quic.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	tr, pc := s.tr, s.pc
	s.tr, s.pc = nil, nil
	s.mu.Unlock()
	for _, c := range conns {
		c.CloseWithError(codeShutdown, "server shutting down")
	}
	s.wg.Wait()
	if tr != nil {
		tr.Close()
	}
	if pc != nil {
		pc.Close()
	}
}
