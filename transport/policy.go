package transport

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/edgeplane/edgeplane/transport/resilience"
)

// Policy is how calls to one target are made: per-attempt timeout, retry,
// circuit breaker and balancer. See resilience.Policy.
type Policy = resilience.Policy

// Retryable reports whether a failed attempt may be tried again:
//
//   - always, when it provably never ran on a server (Unprocessed): the
//     stream was never opened (the dial failed, was refused, or ran out of
//     the attempt's time: Unavailable, Unauthenticated, DeadlineExceeded),
//     or the server answered Unavailable before running any handler;
//   - for idempotent calls, also when the peer was unavailable, too slow
//     (DeadlineExceeded) or aborted the call.
//
// Everything else is final: a non-idempotent call that may have reached a
// handler is never sent twice.
func Retryable(err error, idempotent bool) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if e.Unprocessed {
		switch e.Code {
		case Unavailable, Unauthenticated, DeadlineExceeded:
			return true
		}
	}
	if !idempotent {
		return false
	}
	switch e.Code {
	case Unavailable, DeadlineExceeded, Aborted:
		return true
	}
	return false
}

// BreakerOutcome says what a finished attempt teaches the peer's circuit
// breaker: the peer is at fault when it was unreachable, unavailable, too
// slow, or refused the handshake; an answer of any other status shows it
// alive; a caller that gave up (parent context ended) teaches nothing.
func BreakerOutcome(parent context.Context, err error) resilience.Outcome {
	if err == nil {
		return resilience.Success
	}
	if parent.Err() != nil {
		return resilience.Ignored
	}
	var e *Error
	if !errors.As(err, &e) {
		return resilience.Failure
	}
	switch {
	case e.Code == Unavailable, e.Code == DeadlineExceeded:
		return resilience.Failure
	case e.Code == Unauthenticated && e.Unprocessed:
		return resilience.Failure
	case e.Code == Canceled && errors.Is(err, ErrClientClosed):
		return resilience.Ignored
	}
	return resilience.Success
}

// Target applies one Policy to calls over a set of interchangeable peers.
// It keeps the balancer's state and one circuit breaker per peer address.
type Target struct {
	c      *Client
	name   string
	policy Policy

	mu       sync.Mutex
	bal      resilience.Balancer
	rng      *rand.Rand
	breakers map[string]*resilience.Breaker
	nodes    map[string]string // node names of the breakers' addresses, where calls named them
}

// Target returns a Target named name (for logs) with policy p; zero fields
// of p take their defaults.
func (c *Client) Target(name string, p Policy) (*Target, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("transport: target %s: %w", name, err)
	}
	p = p.WithDefaults()
	c.mu.Lock()
	defer c.mu.Unlock()
	rng := rand.New(rand.NewPCG(c.cfg.Rand.Uint64(), c.cfg.Rand.Uint64()))
	bal, err := resilience.NewBalancer(p.Balancer, rng)
	if err != nil {
		return nil, err
	}
	t := &Target{c: c, name: name, policy: p, bal: bal, rng: rng, breakers: make(map[string]*resilience.Breaker),
		nodes: make(map[string]string)}
	c.targets = append(c.targets, t)
	return t, nil
}

// Policy returns the target's policy, defaults filled in.
func (t *Target) Policy() Policy { return t.policy }

// BreakerState reports the state of the breaker for the peer at addr
// (closed for a peer never called).
func (t *Target) BreakerState(addr string) resilience.State {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.breakers[addr]
	if !ok {
		return resilience.Closed
	}
	return b.State(t.c.cfg.Clock.Now())
}

// Breakers reports the state of every breaker, by peer address.
func (t *Target) Breakers() map[string]resilience.State {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.c.cfg.Clock.Now()
	out := make(map[string]resilience.State, len(t.breakers))
	for addr, b := range t.breakers {
		out[addr] = b.State(now)
	}
	return out
}

func (t *Target) breaker(addr string) *resilience.Breaker {
	b, ok := t.breakers[addr]
	if !ok {
		b = resilience.NewBreaker(t.policy.CircuitBreaker)
		t.breakers[addr] = b
	}
	return b
}

// Invoke makes a unary call to one of candidates under the policy. Each
// attempt goes to a peer picked by the balancer among those whose breaker
// lets calls through, preferring peers not yet tried; it is bounded by
// the policy's timeout and runs the client's interceptors. Failed attempts
// are retried after a backoff when Retryable allows. When every
// candidate's breaker is open, Invoke fails at once with an error that
// matches ErrCircuitOpen.
func (t *Target) Invoke(ctx context.Context, candidates []Peer, method string, req, resp any, opts ...CallOption) error {
	if len(candidates) == 0 {
		return ErrNoPeers
	}
	o := buildOptions(opts)
	tried := make([]bool, len(candidates))
	var lastErr error
	for attempt := 1; ; attempt++ {
		i, err := t.pick(candidates, tried)
		if err != nil {
			if lastErr != nil {
				return lastErr
			}
			return err
		}
		tried[i] = true
		actx, cancel := context.WithTimeout(ctx, t.policy.Timeout)
		err = t.c.attempt(actx, candidates[i], method, req, resp, o, attempt)
		cancel()
		t.record(candidates[i].Addr, BreakerOutcome(ctx, err))
		if err == nil {
			return nil
		}
		lastErr = err
		if attempt >= t.policy.Retry.Attempts || ctx.Err() != nil || !Retryable(err, o.idempotent) {
			return err
		}
		t.mu.Lock()
		pause := t.policy.Retry.Backoff(attempt, t.rng.Float64())
		t.mu.Unlock()
		if t.c.cfg.Clock.Sleep(ctx, pause) != nil {
			return err
		}
	}
}

// pick chooses the candidate of the next attempt and takes its breaker's
// permission.
func (t *Target) pick(candidates []Peer, tried []bool) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.c.cfg.Clock.Now()
	idx := make([]int, 0, len(candidates))
	cands := make([]resilience.Candidate, 0, len(candidates))
	for _, retrying := range []bool{false, true} {
		for i, p := range candidates {
			if tried[i] != retrying || !t.breaker(p.Addr).Ready(now) {
				continue
			}
			idx = append(idx, i)
			cands = append(cands, resilience.Candidate{Weight: p.Weight, Outstanding: t.c.outstanding(p)})
		}
		if len(idx) > 0 {
			break
		}
	}
	if len(idx) == 0 {
		return -1, &Error{Code: Unavailable, Unprocessed: true, cause: ErrCircuitOpen,
			Message: fmt.Sprintf("%s: circuit breaker open for all %d candidates", t.name, len(candidates))}
	}
	i := idx[t.bal.Pick(cands)]
	t.breaker(candidates[i].Addr).Allow(now)
	if n := candidates[i].Node; n != "" && t.nodes[candidates[i].Addr] != n {
		t.nodes[candidates[i].Addr] = n
	}
	return i, nil
}

func (t *Target) record(addr string, o resilience.Outcome) {
	t.mu.Lock()
	t.breaker(addr).Record(t.c.cfg.Clock.Now(), o)
	t.mu.Unlock()
}
