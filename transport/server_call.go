package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime/debug"
	"time"

	"github.com/quic-go/quic-go"
)

// serverCall is one call being served: it is the handler's Decoder and,
// for streaming calls, its Sender.
type serverCall struct {
	s    *Server
	st   *quic.Stream
	h    handler
	info CallInfo
	ctx  callCtx
	body []byte
	resp any
	ran  bool
}

// Decode decodes the request body into v with the server's limits.
func (c *serverCall) Decode(v any) error {
	if err := c.s.codec.dec.Unmarshal(c.body, v); err != nil {
		return &Error{Code: InvalidArgument, Message: "decode request: " + err.Error(), cause: err}
	}
	return nil
}

// Send writes one message of a streaming reply.
func (c *serverCall) Send(v any) error {
	if c.h.stream == nil {
		return &Error{Code: Internal, Message: "Send on a unary call"}
	}
	buf := getBuffer()
	defer putBuffer(buf)
	if err := c.s.codec.appendFrame(buf, frameMessage, v, c.s.codec.limits.MaxMessageSize); err != nil {
		return err
	}
	if _, err := c.st.Write(buf.Bytes()); err != nil {
		if ctxErr := c.ctx.Err(); ctxErr != nil {
			return ctxError(&c.ctx, false)
		}
		return &Error{Code: Unavailable, Message: "send: " + err.Error(), cause: err}
	}
	return nil
}

// serveStream serves the call on one stream: read and check the header
// and request, run the interceptors and handler, write the reply.
func (s *Server) serveStream(cs *connState, st *quic.Stream) {
	defer s.leave()
	defer cs.finished(st)
	if s.draining.Load() {
		st.CancelRead(streamRejected)
		s.reply(st, statusWire{Code: Unavailable, Message: "server shutting down", Unprocessed: true})
		return
	}
	fr := newFrameReader(st, s.codec.limitFor)
	defer fr.release()
	st.SetReadDeadline(time.Now().Add(s.cfg.RequestReadTimeout))

	c := &serverCall{s: s, st: st}
	hdr := &c.info.Header
	kind, p, err := fr.next()
	if err == nil && kind != frameHeader {
		err = errors.New("first frame is not a header")
	}
	if err == nil {
		err = decodeHeaderInto(p, hdr)
	}
	if err == nil {
		kind, p, err = fr.next()
		switch {
		case err == io.EOF:
			err = errors.New("no request message")
		case err == nil && kind != frameMessage:
			err = errors.New("second frame is not a message")
		case err == nil:
			err = fr.expectEOF()
		}
	}
	if err != nil {
		s.refuse(st, err)
		return
	}

	h, ok := (*s.handlers.Load())[hdr.Method]
	if !ok {
		s.reply(st, statusWire{Code: Unimplemented, Message: "unknown method " + quoted(hdr.Method), Unprocessed: true})
		return
	}
	c.h, c.body = h, p
	c.info = CallInfo{Method: hdr.Method, Peer: cs.peer, Header: *hdr, Server: true, Streaming: h.stream != nil}
	ctx := st.Context()
	if hdr.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, hdr.Timeout)
		defer cancel()
	}
	c.ctx = callCtx{Context: ctx, info: &c.info}
	c.info.sc = c

	var stop func() bool
	if c.info.Streaming && hdr.Timeout > 0 {
		// A Send blocked on flow control must not outlive the deadline.
		stop = context.AfterFunc(ctx, func() {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				st.CancelWrite(streamDeadlineExceeded)
			}
		})
	}
	err = s.invoke(&c.ctx, &c.info)
	if stop != nil && !stop() {
		return // the stream was reset by the deadline
	}
	if st.Context().Err() != nil {
		st.CancelWrite(streamCanceled) // the caller is gone
		return
	}

	buf := getBuffer()
	defer putBuffer(buf)
	if err == nil && !c.info.Streaming {
		err = s.codec.appendFrame(buf, frameMessage, c.resp, s.codec.limits.MaxMessageSize)
	}
	status := statusWire{HLC: c.info.ReplyHLC}
	if err != nil {
		e := statusOf(err)
		status.Code, status.Message = e.Code, e.Message
		status.Unprocessed = !c.ran && e.Code == Unavailable
		if status.Code == OK {
			status.Code = Unknown
		}
	}
	s.codec.appendStatus(buf, status)
	st.Write(buf.Bytes())
	st.Close()
}

// dispatch is the end of the server's interceptor chain.
func (s *Server) dispatch(ctx context.Context, info *CallInfo) (err error) {
	c := info.sc
	c.ran = true
	defer func() {
		if r := recover(); r != nil {
			s.cfg.Logger.Error("rpc: handler panicked", "method", info.Method, "panic", r, "stack", string(debug.Stack()))
			err = &Error{Code: Internal, Message: "handler panicked"}
		}
	}()
	if c.h.stream != nil {
		return c.h.stream(ctx, c, c)
	}
	c.resp, err = c.h.unary(ctx, c)
	return err
}

// refuse answers a stream whose header or request could not be read, and
// stops reading the rest of it.
func (s *Server) refuse(st *quic.Stream, err error) {
	st.CancelRead(streamRejected)
	var streamErr *quic.StreamError
	var tooLarge *frameTooLargeError
	var netErr net.Error
	switch {
	case errors.As(err, &streamErr):
		st.CancelWrite(streamCanceled) // the caller gave up
	case errors.As(err, &tooLarge):
		s.reply(st, statusWire{Code: ResourceExhausted, Message: err.Error()})
	case errors.As(err, &netErr) && netErr.Timeout():
		s.reply(st, statusWire{Code: DeadlineExceeded, Message: "request not received in time"})
	case errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrClosedPipe):
	default:
		var appErr *quic.ApplicationError
		if errors.As(err, &appErr) {
			return // the connection is gone
		}
		s.reply(st, statusWire{Code: InvalidArgument, Message: "bad request: " + err.Error()})
	}
}

// reply writes a status alone and closes the stream's sending side.
func (s *Server) reply(st *quic.Stream, status statusWire) {
	buf := getBuffer()
	s.codec.appendStatus(buf, status)
	st.Write(buf.Bytes())
	st.Close()
	putBuffer(buf)
}
