package proxy

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/edgeplane/edgeplane/agent/tracing"
	"github.com/edgeplane/edgeplane/transport"
)

// Tracing of proxied calls (package tracing). The caller's agent reads
// the application's trace context once per call (traceCall) and makes a
// client span per attempt (tracedAttempt), whose traceparent travels in
// the transport's header (transport.WithSpan) or, for an instance on this
// node, in the instance's request. The destination's agent makes a
// server span under it (tracedServe), the parent of the instance's
// traceparent. The tracestate rides among the request's headers, checked
// at both ends; the traceparent never does: the one the instance sees is
// always the agent's (setTraceHeaders).

type traceKey uint8

const (
	callTraceKey traceKey = iota // tracing.Context: the application's
	spanKey                      // *tracing.Span: the hop's own span
)

// traceCall reads the application's trace context from r into ctx and
// leaves in req's headers only its checked tracestate.
func (p *Proxy) traceCall(ctx context.Context, r *http.Request, req *httpRequest) context.Context {
	tc := tracing.FromHeader(r.Header, p.tracer.SampleRatio())
	delete(req.Header, tracing.TraceparentHeader)
	delete(req.Header, tracing.TracestateHeader)
	if tc.State != "" {
		req.Header[tracing.TracestateHeader] = []string{tc.State}
	}
	return context.WithValue(ctx, callTraceKey, tc)
}

// tracedAttempt is attempt n within a client span, which ends when the
// answer's body is closed or the attempt fails.
func (p *Proxy) tracedAttempt(ctx context.Context, in Instance, req *httpRequest, n int) (*answer, *failure) {
	tc, ok := ctx.Value(callTraceKey).(tracing.Context)
	if !ok {
		return p.attempt(ctx, in, req)
	}
	sp := tracing.Start(tc, tracing.Client, "", time.Now())
	if p.recorded(sp) {
		sp.Name = req.Method + " " + req.Service
		sp.Attrs = []tracing.Attr{
			tracing.String("http.request.method", req.Method),
			tracing.String("edgeplane.caller.service", req.Caller),
			tracing.String("edgeplane.target.service", req.Service),
			tracing.String("edgeplane.target.node", in.Node),
			tracing.String("edgeplane.target.instance", in.ID),
			tracing.Int("edgeplane.attempt", int64(n)),
		}
	}
	ans, f := p.attempt(context.WithValue(ctx, spanKey, sp), in, req)
	if f != nil {
		p.endSpan(sp, 0, f.kind, f.err.Error())
		return nil, f
	}
	ans.body = &spanBody{ReadCloser: ans.body, end: func() { p.endSpan(sp, ans.status, "", "") }}
	return ans, nil
}

// spanOptions returns the call option that sends the hop's span as the
// transport's traceparent.
func spanOptions(ctx context.Context) []transport.CallOption {
	if sp, ok := ctx.Value(spanKey).(*tracing.Span); ok {
		return []transport.CallOption{transport.WithSpan(sp.Traceparent)}
	}
	return nil
}

// tracedServe serves MethodHTTP within a server span under the caller's
// span (the transport header's traceparent).
func (p *Proxy) tracedServe(ctx context.Context, req *httpRequest, send func(*httpMessage) error) error {
	parent, ok := transport.TraceparentFromContext(ctx)
	tc := tracing.FromParent(parent, ok, http.Header(req.Header).Values(tracing.TracestateHeader), p.tracer.SampleRatio())
	sp := tracing.Start(tc, tracing.Server, "", time.Now())
	if p.recorded(sp) {
		var node string
		if ci, ok := transport.CallInfoFromContext(ctx); ok {
			node = ci.Peer.Node
		}
		sp.Name = req.Method + " " + req.Service
		sp.Attrs = []tracing.Attr{
			tracing.String("http.request.method", req.Method),
			tracing.String("edgeplane.caller.service", req.Caller),
			tracing.String("edgeplane.caller.node", node),
			tracing.String("edgeplane.target.service", req.Service),
			tracing.String("edgeplane.target.instance", req.Instance),
		}
	}
	status, refused := 0, ErrorKind("")
	err := p.serveHTTP(context.WithValue(ctx, spanKey, sp), req, func(m *httpMessage) error {
		if status == 0 && refused == "" {
			status, refused = m.Status, ErrorKind(m.Refused)
		}
		return send(m)
	})
	msg := ""
	if err != nil {
		msg = err.Error()
		if refused == "" {
			refused = Unreachable
		}
	}
	p.endSpan(sp, status, refused, msg)
	return err
}

// setTraceHeaders sets the trace context of the instance's request h:
// the hop's span as the parent, its checked tracestate; whatever trace
// headers came with the request are replaced.
func setTraceHeaders(ctx context.Context, h http.Header) {
	h.Del(tracing.TraceparentHeader)
	h.Del(tracing.TracestateHeader)
	sp, ok := ctx.Value(spanKey).(*tracing.Span)
	if !ok {
		return
	}
	h.Set(tracing.TraceparentHeader, sp.Traceparent.String())
	if sp.State != "" {
		h.Set(tracing.TracestateHeader, sp.State)
	}
}

// endSpan finishes sp with the instance's status, or the proxy's error,
// and hands it to the tracer.
func (p *Proxy) endSpan(sp *tracing.Span, status int, kind ErrorKind, msg string) {
	if !p.recorded(sp) {
		return
	}
	sp.End = time.Now()
	if status != 0 {
		sp.Attrs = append(sp.Attrs, tracing.Int("http.response.status_code", int64(status)))
	}
	switch {
	case kind != "":
		sp.Error, sp.Message = true, msg
		if msg == "" {
			sp.Message = string(kind)
		}
		sp.Attrs = append(sp.Attrs, tracing.String("error.type", string(kind)))
	case status >= 500:
		sp.Error = true
		sp.Attrs = append(sp.Attrs, tracing.String("error.type", strconv.Itoa(status)))
	}
	p.tracer.Record(sp)
}

// recorded reports whether sp will be exported: only then is it given a
// name and attributes.
func (p *Proxy) recorded(sp *tracing.Span) bool { return sp.Sampled() && p.tracer.Exporting() }

// spanBody ends the attempt's span once its body is closed.
type spanBody struct {
	io.ReadCloser
	end  func()
	done bool
}

func (b *spanBody) Close() error {
	err := b.ReadCloser.Close()
	if !b.done {
		b.done = true
		b.end()
	}
	return err
}
