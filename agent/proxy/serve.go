package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/edgeplane/edgeplane/transport"
)

// The destination's side: MethodHTTP, served to the other agents.

// Serve registers MethodHTTP on reg: calls from other agents for the
// instances registered on this node.
func (p *Proxy) Serve(reg Registrar) {
	reg.HandleStream(MethodHTTP, transport.ServerStreaming(p.tracedServe))
}

// serveHTTP hands a request from another agent to an instance of this
// node. Who may call is what the RPC server admits (current members);
// the calling node is the one its certificate names, and it speaks only
// for the services it registered. The instance is looked up here by its
// service and ID, and its registered address dialled: the caller names
// no address.
func (p *Proxy) serveHTTP(ctx context.Context, req *httpRequest, send func(*httpMessage) error) error {
	ci, ok := transport.CallInfoFromContext(ctx)
	if !ok || ci.Peer.Node == "" {
		return &transport.Error{Code: transport.Unauthenticated, Message: "proxy: caller not identified"}
	}
	caller := ci.Peer.Node
	if err := checkRequest(req); err != nil {
		return &transport.Error{Code: transport.InvalidArgument, Message: "proxy: " + err.Error()}
	}
	if !p.cfg.View.Registered(caller, req.Caller) {
		p.log.Warn("proxy call refused: the caller's node has no such service", "node", caller, "service", req.Caller, "target", req.Service)
		return send(&httpMessage{Refused: string(Denied)})
	}
	addr, ok := p.cfg.View.Local(req.Service, req.Instance)
	if !ok {
		return send(&httpMessage{Refused: string(NotLocal)})
	}
	site, _, _ := p.cfg.View.Member(caller)
	resp, delivered, err := p.deliver(ctx, addr, req, caller, site)
	if err != nil {
		if !delivered {
			return send(&httpMessage{Refused: string(Unreachable)})
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &transport.Error{Code: transport.Unavailable, Message: "proxy: instance " + req.Instance + ": " + err.Error()}
	}
	defer resp.Body.Close()
	if err := send(&httpMessage{Status: resp.StatusCode, Header: forwardable(resp.Header)}); err != nil {
		return err
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	for {
		n, err := io.ReadFull(resp.Body, buf)
		if n > 0 {
			if serr := send(&httpMessage{Body: buf[:n]}); serr != nil {
				return serr
			}
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return nil
		case err != nil:
			return &transport.Error{Code: transport.Unavailable, Message: "proxy: instance " + req.Instance + " broke off: " + err.Error()}
		}
	}
}

// chunkPool holds the buffers bodies are copied through, ChunkSize each.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

// checkRequest refuses requests no application could have sent.
func checkRequest(req *httpRequest) error {
	switch {
	case req.Caller == "" || req.Service == "" || req.Instance == "":
		return errors.New("caller, service and instance are required")
	case req.Method == "" || strings.ContainsAny(req.Method, " \t\r\n/:"):
		return fmt.Errorf("bad method %q", req.Method)
	case !strings.HasPrefix(req.URI, "/") || strings.ContainsAny(req.URI, " \r\n"):
		return fmt.Errorf("bad request target %q", req.URI)
	case len(req.Body) > MaxRequestBody:
		return errors.New("body too large")
	case headerSize(req.Header) > maxHeaderBytes:
		return errors.New("header too large")
	}
	return nil
}

// deliver sends req to the instance at addr, with the caller's identity
// set, and reports whether the request may have reached it: false only
// when no connection to it was had.
func (p *Proxy) deliver(ctx context.Context, addr string, req *httpRequest, node, site string) (*http.Response, bool, error) {
	var conn atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { conn.Store(true) }})
	hr, err := instanceRequest(ctx, addr, req, node, site)
	if err != nil {
		return nil, false, err
	}
	resp, err := p.direct.RoundTrip(hr)
	if err != nil {
		return nil, conn.Load(), err
	}
	return resp, true, nil
}

// instanceRequest is req as the instance at addr receives it: to addr,
// whatever the request target says, with the caller headers set.
func instanceRequest(ctx context.Context, addr string, req *httpRequest, node, site string) (*http.Request, error) {
	u, err := url.ParseRequestURI(req.URI)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return nil, fmt.Errorf("bad request target %q", req.URI)
	}
	u.Scheme, u.Host = "http", addr
	hr, err := http.NewRequestWithContext(ctx, req.Method, u.String(), bytes.NewReader(req.Body))
	if err != nil {
		return nil, err
	}
	hr.Header = withCaller(req.Header, req.Caller, node, site)
	setTraceHeaders(ctx, hr.Header)
	if req.Host != "" {
		hr.Host = req.Host
	}
	return hr, nil
}
