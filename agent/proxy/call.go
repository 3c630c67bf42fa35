package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/edgeplane/edgeplane/transport"
	"github.com/edgeplane/edgeplane/transport/resilience"
)

// The caller's side: an application's request on an upstream listener,
// carried to one instance after another until one answers or the policy
// says stop.

// answer is an instance's response, whichever way it came.
type answer struct {
	status int
	header http.Header
	body   io.ReadCloser
}

// failure is an attempt that got no answer from the application.
type failure struct {
	kind ErrorKind
	// delivered: the request may have reached the application.
	delivered bool
	err       error
}

func (f *failure) Error() string { return string(f.kind) + ": " + f.err.Error() }

// retryStatus are the application's answers that an idempotent request
// is sent elsewhere for.
func retryStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// proxyError writes the proxy's own error response.
func proxyError(w http.ResponseWriter, kind ErrorKind, msg string) {
	code := http.StatusBadGateway
	switch kind {
	case NoHealthyUpstream, CircuitOpen, Overloaded, NotLocal:
		code = http.StatusServiceUnavailable
	case Timeout:
		code = http.StatusGatewayTimeout
	case Denied:
		code = http.StatusForbidden
	case TooLarge:
		code = http.StatusRequestEntityTooLarge
	}
	w.Header().Set(ErrorHeader, string(kind))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	io.WriteString(w, string(kind)+": "+msg+"\n")
}

func (p *Proxy) upstreamHandler(u Upstream) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.call(w, r, u) })
}

// call serves one request of an upstream listener.
func (p *Proxy) call(w http.ResponseWriter, r *http.Request, u Upstream) {
	s := p.pair(u.Caller, u.Service)
	if !s.enter() {
		proxyError(w, Overloaded, "too many calls in flight to "+u.Service)
		return
	}
	defer s.leave()
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBody+1))
	if err != nil {
		return // the application went away
	}
	if len(body) > MaxRequestBody {
		proxyError(w, TooLarge, "request body over 1 MiB")
		return
	}
	req := &httpRequest{Caller: u.Caller, Service: u.Service, Method: r.Method, URI: r.URL.RequestURI(),
		Header: forwardable(r.Header), Host: r.Host, Body: body}
	ctx, cancel := context.WithTimeout(p.traceCall(r.Context(), r, req), s.pol.Timeout)
	defer cancel()
	ans, f := p.attempts(ctx, s, req, idempotent(r))
	if f != nil {
		if r.Context().Err() != nil {
			return
		}
		proxyError(w, f.kind, f.err.Error())
		return
	}
	defer ans.body.Close()
	h := w.Header()
	for k, v := range forwardable(ans.header) {
		h[k] = v
	}
	w.WriteHeader(ans.status)
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	if _, err := io.CopyBuffer(w, ans.body, *bp); err != nil && r.Context().Err() == nil {
		// The answer broke off after its head: the application sees a
		// truncated response, as from the instance itself.
		panic(http.ErrAbortHandler)
	}
}

// attempts runs the policy's attempts until one answers or none may
// follow.
func (p *Proxy) attempts(ctx context.Context, s *pair, req *httpRequest, idem bool) (*answer, *failure) {
	tried := make(map[string]bool)
	var last *failure
	for n := 1; ; n++ {
		cands, err := p.cfg.View.Healthy(ctx, req.Service)
		if err != nil {
			return nil, &failure{kind: NoHealthyUpstream, err: err}
		}
		in, f := s.pick(p.cfg.View, p.cfg.Self, cands, tried, p.cfg.Clock.Now())
		if f != nil {
			if last != nil {
				return nil, last
			}
			return nil, f
		}
		tried[in.key()] = true
		req.Instance = in.ID
		actx, cancel := context.WithTimeout(ctx, s.pol.PerTryTimeout)
		ans, f := p.tracedAttempt(actx, in, req, n)
		if f != nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
			f.kind = Timeout
		}
		s.done(in, p.cfg.Clock.Now(), outcome(ctx, ans, f))
		more := n < s.pol.Attempts && ctx.Err() == nil
		switch {
		case f == nil && !(more && idem && retryStatus(ans.status)):
			return &answer{status: ans.status, header: ans.header, body: cancelOnClose{ans.body, cancel}}, nil
		case f == nil:
			ans.body.Close()
			last = &failure{kind: Unreachable, delivered: true, err: errors.New("instance answered " + http.StatusText(ans.status))}
		default:
			last = f
		}
		cancel()
		if !more || f != nil && (f.kind == Denied || f.delivered && !idem) {
			return nil, last
		}
		s.mu.Lock()
		pause := s.pol.Backoff.Backoff(n, s.rng.Float64())
		s.mu.Unlock()
		if p.cfg.Clock.Sleep(ctx, pause) != nil {
			return nil, &failure{kind: Timeout, delivered: last.delivered, err: ctx.Err()}
		}
	}
}

// cancelOnClose ends an attempt's context once its body is read.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// outcome is what an attempt teaches the instance's breaker.
func outcome(parent context.Context, ans *answer, f *failure) resilience.Outcome {
	switch {
	case parent.Err() != nil && f != nil:
		return resilience.Ignored
	case f != nil && f.kind == Denied:
		return resilience.Success // the agent is alive and answered
	case f != nil:
		return resilience.Failure
	case retryStatus(ans.status):
		return resilience.Failure
	}
	return resilience.Success
}

// attempt sends req to one instance: directly when it runs on this node,
// else through its agent.
func (p *Proxy) attempt(ctx context.Context, in Instance, req *httpRequest) (*answer, *failure) {
	if in.Node == p.cfg.Self {
		addr, ok := p.cfg.View.Local(req.Service, in.ID)
		if !ok {
			return nil, &failure{kind: NotLocal, err: errors.New("instance " + in.ID + " is not registered here")}
		}
		site, _, _ := p.cfg.View.Member(p.cfg.Self)
		resp, delivered, err := p.deliver(ctx, addr, req, p.cfg.Self, site)
		if err != nil {
			return nil, &failure{kind: Unreachable, delivered: delivered, err: err}
		}
		return &answer{status: resp.StatusCode, header: resp.Header, body: resp.Body}, nil
	}
	_, addr, ok := p.cfg.View.Member(in.Node)
	if !ok || addr == "" {
		return nil, &failure{kind: Unreachable, err: errors.New("node " + in.Node + " is not a live member")}
	}
	st, err := p.cfg.Mesh.Stream(ctx, transport.Peer{Node: in.Node, Addr: addr}, MethodHTTP, req, spanOptions(ctx)...)
	if err != nil {
		return nil, meshFailure(err)
	}
	var head httpMessage
	if err := st.Recv(&head); err != nil {
		st.Close()
		if err == io.EOF {
			err = errors.New("agent of " + in.Node + " answered nothing")
		}
		return nil, meshFailure(err)
	}
	if head.Refused != "" {
		st.Close()
		return nil, &failure{kind: ErrorKind(head.Refused), err: errors.New("refused by the agent of " + in.Node)}
	}
	return &answer{status: head.Status, header: http.Header(head.Header), body: &streamBody{st: st}}, nil
}

// meshFailure classifies a call's error: one that never opened its
// stream was not delivered.
func meshFailure(err error) *failure {
	var te *transport.Error
	delivered := !(errors.As(err, &te) && te.Unprocessed)
	kind := Unreachable
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) && te.Code == transport.DeadlineExceeded {
		kind = Timeout
	}
	return &failure{kind: kind, delivered: delivered, err: err}
}

// streamBody reads a response body from MethodHTTP's messages.
type streamBody struct {
	st  *transport.ClientStream
	buf bytes.Reader
}

func (b *streamBody) Read(p []byte) (int, error) {
	for b.buf.Len() == 0 {
		var m httpMessage
		if err := b.st.Recv(&m); err != nil {
			return 0, err
		}
		b.buf.Reset(m.Body)
	}
	return b.buf.Read(p)
}

func (b *streamBody) Close() error { return b.st.Close() }

// enter counts a call in, or refuses it past MaxConcurrent.
func (s *pair) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inFlight >= s.pol.MaxConcurrent {
		return false
	}
	s.inFlight++
	return true
}

func (s *pair) leave() {
	s.mu.Lock()
	s.inFlight--
	s.mu.Unlock()
}

func (s *pair) breaker(k string) *resilience.Breaker {
	b, ok := s.breakers[k]
	if !ok {
		b = resilience.NewBreaker(s.pol.Breaker)
		s.breakers[k] = b
	}
	return b
}

// tier ranks an instance by distance: this node, this site, elsewhere.
func tier(loc Locality, self, site string, in Instance) int {
	switch {
	case loc == Any:
		return 0
	case in.Node == self:
		return 0
	case site != "" && in.Site == site:
		return 1
	}
	return 2
}

// pick chooses the instance of the next attempt and takes its breaker's
// permission: the nearest tier with an instance whose breaker lets calls
// through, preferring instances not tried yet; the balancer picks within
// the tier.
func (s *pair) pick(v View, self string, cands []Instance, tried map[string]bool, now time.Time) (Instance, *failure) {
	if len(cands) == 0 {
		return Instance{}, &failure{kind: NoHealthyUpstream, err: errors.New("no instance passes its checks")}
	}
	site, _, _ := v.Member(self)
	s.mu.Lock()
	defer s.mu.Unlock()
	best := -1
	var idx []int
	var cs []resilience.Candidate
	for _, retrying := range []bool{false, true} {
		for i, in := range cands {
			t := tier(s.pol.Locality, self, site, in)
			if s.pol.Locality == SiteOnly && t == 2 || tried[in.key()] != retrying || !s.breaker(in.key()).Ready(now) {
				continue
			}
			if best == -1 || t < best {
				best, idx, cs = t, idx[:0], cs[:0]
			}
			if t == best {
				idx = append(idx, i)
				cs = append(cs, resilience.Candidate{Weight: in.Weight, Outstanding: s.outstanding[in.key()]})
			}
		}
		if len(idx) > 0 {
			break
		}
	}
	if len(idx) == 0 {
		return Instance{}, &failure{kind: CircuitOpen, err: errors.New("the circuit breaker is open for every instance")}
	}
	in := cands[idx[s.bal.Pick(cs)]]
	s.breaker(in.key()).Allow(now)
	s.outstanding[in.key()]++
	return in, nil
}

// done records an attempt's outcome.
func (s *pair) done(in Instance, now time.Time, o resilience.Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.breaker(in.key()).Record(now, o)
	if s.outstanding[in.key()]--; s.outstanding[in.key()] <= 0 {
		delete(s.outstanding, in.key())
	}
}
