package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
)

// CallOption tunes one call.
type CallOption func(*callOptions)

type callOptions struct {
	idempotent  bool
	metadata    map[string]string
	traceparent string
}

var idempotentOption CallOption = func(o *callOptions) { o.idempotent = true }

// Idempotent marks a call as safe to run more than once, so a policy may
// retry it even after it may have reached the server.
func Idempotent() CallOption { return idempotentOption }

// WithMetadata sends md in the call's header.
func WithMetadata(md map[string]string) CallOption {
	return func(o *callOptions) { o.metadata = md }
}

// WithSpan sends tp as the call's traceparent as it is: the caller made
// and records the call's span itself, so the server's span must name it
// as its parent. Without it, Trace gives the call a new span id.
func WithSpan(tp Traceparent) CallOption {
	return func(o *callOptions) { o.traceparent = tp.String() }
}

func buildOptions(opts []CallOption) callOptions {
	var o callOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// clientCall is one attempt of a call as the end of the client's
// interceptor chain sees it.
type clientCall struct {
	req, resp any
	stream    *ClientStream
	info      CallInfo
}

// Call makes a unary call to one peer: it sends req and decodes the reply
// into resp (which may be nil to discard it). The call is bounded and
// cancelled by ctx; its remaining time travels to the server, whose
// handler context ends with it. Call does not retry; see Target.Invoke.
func (c *Client) Call(ctx context.Context, to Peer, method string, req, resp any, opts ...CallOption) error {
	return c.attempt(ctx, to, method, req, resp, buildOptions(opts), 1)
}

func (c *Client) attempt(ctx context.Context, to Peer, method string, req, resp any, o callOptions, n int) error {
	cc := &clientCall{req: req, resp: resp}
	cc.info = CallInfo{Method: method, Peer: to, Attempt: n, cc: cc}
	cc.info.Header.Metadata = o.metadata
	cc.info.Header.Traceparent = o.traceparent
	return c.invoke(ctx, &cc.info)
}

// Stream starts a server-streaming call: it sends req, and the returned
// stream yields the server's messages. Cancelling ctx, or Close, stops
// the server's handler.
func (c *Client) Stream(ctx context.Context, to Peer, method string, req any, opts ...CallOption) (*ClientStream, error) {
	o := buildOptions(opts)
	cc := &clientCall{req: req}
	cc.info = CallInfo{Method: method, Peer: to, Attempt: 1, Streaming: true, cc: cc}
	cc.info.Header.Metadata = o.metadata
	cc.info.Header.Traceparent = o.traceparent
	if err := c.invoke(ctx, &cc.info); err != nil {
		if cc.stream != nil {
			cc.stream.Close()
		}
		return nil, err
	}
	return cc.stream, nil
}

// roundTrip is the end of the client's interceptor chain: it opens a
// stream on the peer's connection, sends header and request, and (for
// unary calls) reads the reply.
func (c *Client) roundTrip(ctx context.Context, info *CallInfo) error {
	cc := info.cc
	pc, err := c.peer(info.Peer)
	if err != nil {
		return err
	}
	conn, err := c.connect(ctx, pc)
	if err != nil {
		return err
	}
	buf := getBuffer()
	defer putBuffer(buf)
	if err := c.encodeRequest(ctx, buf, info, cc.req); err != nil {
		return err
	}
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctxError(ctx, true)
		}
		c.afterFailure(pc, conn, err)
		if e := handshakeRefused(err); e != nil {
			return e
		}
		return &Error{Code: Unavailable, Message: "open stream: " + err.Error(), Unprocessed: true, cause: err}
	}
	pc.outstanding.Add(1)
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() {
			st.CancelRead(streamCanceled)
			st.CancelWrite(streamCanceled)
		})
	}
	// A failed write shows up again when reading, with the server's
	// status if it sent one.
	st.Write(buf.Bytes())
	st.Close()

	if info.Streaming {
		cc.stream = &ClientStream{
			c: c, pc: pc, conn: conn, st: st, ctx: ctx, stop: stop, info: info,
			fr: newFrameReader(st, c.codec.limitFor),
		}
		return nil
	}
	fr := newFrameReader(st, c.codec.limitFor)
	err = c.readUnary(ctx, &fr, cc)
	fr.release()
	pc.outstanding.Add(-1)
	if stop != nil && !stop() && err != nil {
		return ctxError(ctx, false)
	}
	if err != nil {
		c.afterFailure(pc, conn, err)
	}
	return err
}

func (c *Client) encodeRequest(ctx context.Context, buf *bytes.Buffer, info *CallInfo, req any) error {
	hdr := &info.Header
	hdr.Method = info.Method
	if dl, ok := ctx.Deadline(); ok {
		rem := time.Until(dl)
		if rem <= 0 {
			return ctxError(ctx, true)
		}
		hdr.Timeout = rem
	}
	if err := c.codec.appendFrame(buf, frameHeader, hdr, c.codec.limits.MaxHeaderSize); err != nil {
		return err
	}
	return c.codec.appendFrame(buf, frameMessage, req, c.codec.limits.MaxMessageSize)
}

// readUnary reads a unary reply: a message then an OK status, or an error
// status alone.
func (c *Client) readUnary(ctx context.Context, fr *frameReader, cc *clientCall) error {
	kind, p, err := fr.next()
	if err != nil {
		return c.readError(ctx, err)
	}
	gotMessage := false
	if kind == frameMessage {
		gotMessage = true
		if cc.resp != nil {
			if err := c.codec.dec.Unmarshal(p, cc.resp); err != nil {
				return &Error{Code: Internal, Message: "decode response: " + err.Error(), cause: err}
			}
		}
		if kind, p, err = fr.next(); err != nil {
			return c.readError(ctx, err)
		}
	}
	if kind != frameStatus {
		return &Error{Code: Internal, Message: "malformed response: unexpected frame"}
	}
	if err := c.finishStatus(ctx, fr, p, &cc.info); err != nil {
		return err
	}
	if !gotMessage {
		return &Error{Code: Internal, Message: "malformed response: no message"}
	}
	return nil
}

// finishStatus decodes a status frame and checks that the stream ends.
func (c *Client) finishStatus(ctx context.Context, fr *frameReader, p []byte, info *CallInfo) error {
	s, err := decodeStatus(p)
	if err != nil {
		return &Error{Code: Internal, Message: err.Error()}
	}
	info.ReplyHLC = s.HLC
	switch s.Code {
	case OK:
	case DeadlineExceeded:
		// The server enforced the deadline the call carried, the caller's
		// own: it may see it pass a moment before the caller does.
		return &Error{Code: s.Code, Message: s.Message, cause: context.DeadlineExceeded}
	default:
		return &Error{Code: s.Code, Message: s.Message, Unprocessed: s.Unprocessed && s.Code == Unavailable}
	}
	if err := fr.expectEOF(); err != nil {
		return c.readError(ctx, err)
	}
	return nil
}

// readError maps a failure to read the reply to a status.
func (c *Client) readError(ctx context.Context, err error) *Error {
	var se *quic.StreamError
	var tooLarge *frameTooLargeError
	switch {
	case ctx.Err() != nil:
		return ctxError(ctx, false)
	case errors.As(err, &se):
		switch {
		case !se.Remote:
			return &Error{Code: Canceled, Message: "call cancelled", cause: err}
		case se.ErrorCode == streamDeadlineExceeded:
			return &Error{Code: DeadlineExceeded, Message: "server deadline exceeded", cause: err}
		}
		return &Error{Code: Canceled, Message: "server reset the stream", cause: err}
	case errors.As(err, &tooLarge):
		return &Error{Code: ResourceExhausted, Message: "response " + err.Error()}
	case errors.Is(err, errTruncated), errors.Is(err, errTrailing), errors.Is(err, errUnknownKind):
		return &Error{Code: Internal, Message: "malformed response: " + err.Error(), cause: err}
	case err == io.EOF:
		return &Error{Code: Internal, Message: "malformed response: stream ended without status"}
	}
	if e := handshakeRefused(err); e != nil {
		return e
	}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && ae.Remote && ae.ErrorCode == codeUnauthenticated {
		// The server closed the connection before serving any stream.
		return &Error{Code: Unauthenticated, Message: "server refused this node: " + err.Error(), Unprocessed: true, cause: err}
	}
	return &Error{Code: Unavailable, Message: "connection lost: " + err.Error(), cause: err}
}

// handshakeRefused recognizes a TLS alert: the server refused this
// client's certificate after the client had finished its side of the
// handshake. Without 0-RTT nothing was processed, so the call is
// Unprocessed.
func handshakeRefused(err error) *Error {
	var te *quic.TransportError
	if errors.As(err, &te) && te.ErrorCode.IsCryptoError() {
		return &Error{Code: Unauthenticated, Message: "handshake refused: " + err.Error(), Unprocessed: true, cause: err}
	}
	return nil
}

// afterFailure forgets the peer's connection once it is closed, so the
// next call dials again. A live connection is kept even when the server
// refused a call: other calls may still be running on it, and a draining
// server closes it itself when they are done.
func (c *Client) afterFailure(pc *peerConn, conn *quic.Conn, err error) {
	if !live(conn) {
		pc.dropConn(conn)
	}
}

// ClientStream is the client's side of a server-streaming call.
type ClientStream struct {
	c    *Client
	pc   *peerConn
	conn *quic.Conn
	st   *quic.Stream
	ctx  context.Context
	stop func() bool
	info *CallInfo
	fr   frameReader

	closing atomic.Bool
	mu      sync.Mutex
	done    bool
	err     error
}

// Recv decodes the next message into v. It returns io.EOF when the server
// ended the call with OK, or the call's error.
func (s *ClientStream) Recv(v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return s.err
	}
	kind, p, err := s.fr.next()
	if err != nil {
		if s.closing.Load() {
			return s.finish(&Error{Code: Canceled, Message: "stream closed", cause: err})
		}
		return s.finish(s.c.readError(s.ctx, err))
	}
	switch kind {
	case frameMessage:
		if err := s.c.codec.dec.Unmarshal(p, v); err != nil {
			s.cancel()
			return s.finish(&Error{Code: Internal, Message: "decode message: " + err.Error(), cause: err})
		}
		return nil
	case frameStatus:
		if err := s.c.finishStatus(s.ctx, &s.fr, p, s.info); err != nil {
			return s.finish(err)
		}
		return s.finish(io.EOF)
	}
	s.cancel()
	return s.finish(&Error{Code: Internal, Message: "malformed response: unexpected frame"})
}

// ReplyHLC returns the server's clock reading sent with the final status,
// once Recv has returned io.EOF or a status error.
func (s *ClientStream) ReplyHLC() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info.ReplyHLC
}

// Close ends the call; if it is still running, the server's handler sees
// its context cancelled. A Recv blocked in another goroutine returns
// Canceled. Close is safe to call more than once, and must be called if
// the stream is abandoned before Recv has returned an error or io.EOF.
func (s *ClientStream) Close() error {
	s.closing.Store(true)
	s.cancel() // unblocks a concurrent Recv; stream methods are goroutine-safe
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done {
		s.finish(&Error{Code: Canceled, Message: "stream closed"})
	}
	return nil
}

func (s *ClientStream) cancel() {
	s.st.CancelRead(streamCanceled)
	s.st.CancelWrite(streamCanceled)
}

func (s *ClientStream) finish(err error) error {
	s.done, s.err = true, err
	if s.stop != nil {
		s.stop()
	}
	s.fr.release()
	s.pc.outstanding.Add(-1)
	if err != io.EOF {
		s.c.afterFailure(s.pc, s.conn, err)
	}
	return err
}
