package transport

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/transport/resilience"
)

func TestRetryable(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		idempotent bool
		want       bool
	}{
		{"never sent, not idempotent", &Error{Code: Unavailable, Unprocessed: true}, false, true},
		{"handshake refused, not idempotent", &Error{Code: Unauthenticated, Unprocessed: true}, false, true},
		{"reached server, unavailable, not idempotent", &Error{Code: Unavailable}, false, false},
		{"reached server, unavailable, idempotent", &Error{Code: Unavailable}, true, true},
		{"timed out, not idempotent", &Error{Code: DeadlineExceeded}, false, false},
		{"timed out dialling, not idempotent", &Error{Code: DeadlineExceeded, Unprocessed: true}, false, true},
		{"client closed", &Error{Code: Canceled, Unprocessed: true}, true, false},
		{"timed out, idempotent", &Error{Code: DeadlineExceeded}, true, true},
		{"aborted, idempotent", &Error{Code: Aborted}, true, true},
		{"not found, idempotent", &Error{Code: NotFound}, true, false},
		{"invalid, idempotent", &Error{Code: InvalidArgument}, true, false},
		{"auth refused by server, idempotent", &Error{Code: Unauthenticated}, true, false},
		{"too large, even unprocessed", &Error{Code: ResourceExhausted, Unprocessed: true}, true, false},
		{"plain error", errors.New("x"), true, false},
		{"circuit open", &Error{Code: Unavailable, Unprocessed: true, cause: ErrCircuitOpen}, false, true},
	}
	for _, tt := range tests {
		if got := Retryable(tt.err, tt.idempotent); got != tt.want {
			t.Errorf("%s: Retryable = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBreakerOutcome(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		parent context.Context
		err    error
		want   resilience.Outcome
	}{
		{"success", live, nil, resilience.Success},
		{"application error shows the peer alive", live, &Error{Code: NotFound}, resilience.Success},
		{"unavailable", live, &Error{Code: Unavailable}, resilience.Failure},
		{"attempt timed out", live, &Error{Code: DeadlineExceeded}, resilience.Failure},
		{"handshake refused", live, &Error{Code: Unauthenticated, Unprocessed: true}, resilience.Failure},
		{"auth interceptor refused", live, &Error{Code: Unauthenticated}, resilience.Success},
		{"caller gave up", done, &Error{Code: DeadlineExceeded}, resilience.Ignored},
		{"client closed", live, &Error{Code: Canceled, cause: ErrClientClosed}, resilience.Ignored},
		{"unknown error", live, errors.New("x"), resilience.Failure},
	}
	for _, tt := range tests {
		if got := BreakerOutcome(tt.parent, tt.err); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// countingServer answers "work" with its node name and counts calls;
// while failing is set it answers Unavailable after running.
type countingServer struct {
	*testServer
	node    string
	calls   atomic.Int64
	failing atomic.Bool
	gate    chan struct{} // if non-nil, calls wait on it
	mu      sync.Mutex
}

func startCounting(t *testing.T, node string) *countingServer {
	cs := &countingServer{node: node}
	cs.testServer = startServer(t, ServerConfig{TLS: fleetTLS(t, node)})
	cs.Handle("work", Unary(func(ctx context.Context, m *Msg) (*Msg, error) {
		cs.calls.Add(1)
		cs.mu.Lock()
		gate := cs.gate
		cs.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if cs.failing.Load() {
			return nil, Errorf(Unavailable, "%s is overloaded", node)
		}
		return &Msg{Text: node}, nil
	}))
	return cs
}

func (cs *countingServer) peer() Peer { return cs.testServer.peer(cs.node) }

func TestRetriesStopOnNonIdempotentCallsThatReachedTheServer(t *testing.T) {
	srv := startCounting(t, "node-a")
	srv.failing.Store(true)
	clock := resilience.NewFakeClock(time.Unix(1_700_000_000, 0))
	c := newClient(t, ClientConfig{Clock: clock, Rand: rand.New(rand.NewPCG(1, 1))})
	tgt, err := c.Target("t", Policy{Retry: resilience.Retry{Attempts: 3, BackoffBase: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 10*time.Second)

	err = tgt.Invoke(ctx, []Peer{srv.peer()}, "work", &Msg{}, nil)
	if e := wantCode(t, err, Unavailable); e.Unprocessed {
		t.Fatal("a handler's Unavailable must not read as unprocessed")
	}
	if n := srv.calls.Load(); n != 1 {
		t.Fatalf("non-idempotent call ran %d times, want 1", n)
	}
	err = tgt.Invoke(ctx, []Peer{srv.peer()}, "work", &Msg{}, nil, Idempotent())
	wantCode(t, err, Unavailable)
	if n := srv.calls.Load(); n != 1+3 {
		t.Fatalf("idempotent call ran %d times, want 3", n-1)
	}
	// Two pauses, growing, with jitter within [step/2, step].
	sl := clock.Sleeps()
	if len(sl) != 2 || sl[0] < 50*time.Millisecond || sl[0] > 100*time.Millisecond || sl[1] < 100*time.Millisecond || sl[1] > 200*time.Millisecond {
		t.Fatalf("backoff pauses %v", sl)
	}
}

func TestUnprocessedCallsRetryElsewhere(t *testing.T) {
	a, b := startCounting(t, "node-a"), startCounting(t, "node-b")
	c := newClient(t, ClientConfig{})
	ctx := ctxTimeout(t, 10*time.Second)
	if err := c.Call(ctx, a.peer(), "work", &Msg{}, nil); err != nil {
		t.Fatal(err)
	}
	// node-a drains: it holds one call and refuses new ones.
	gate := make(chan struct{})
	a.mu.Lock()
	a.gate = gate
	a.mu.Unlock()
	held := make(chan error, 1)
	go func() { held <- c.Call(ctx, a.peer(), "work", &Msg{}, nil) }()
	Eventually(t, 5*time.Second, func() error {
		if a.calls.Load() < 2 {
			return errors.New("held call not running")
		}
		return nil
	})
	go a.Shutdown(ctx)
	Eventually(t, 5*time.Second, func() error {
		if !a.draining.Load() {
			return errors.New("not draining")
		}
		return nil
	})

	tgt, _ := c.Target("t", Policy{Timeout: time.Second, Retry: resilience.Retry{Attempts: 2, BackoffBase: time.Millisecond}})
	// Not idempotent, yet retried on node-b: node-a refused it unrun.
	var got Msg
	if err := tgt.Invoke(ctx, []Peer{a.peer(), b.peer()}, "work", &Msg{}, &got); err != nil || got.Text != "node-b" {
		t.Fatalf("got %+v, %v", got, err)
	}
	// The stream is never opened when the peer cannot be dialled.
	dead := Peer{Node: "node-x", Addr: "127.0.0.1:1"}
	tgt2, _ := c.Target("t2", Policy{Timeout: 500 * time.Millisecond, Retry: resilience.Retry{Attempts: 2, BackoffBase: time.Millisecond}})
	if err := tgt2.Invoke(ctx, []Peer{dead, b.peer()}, "work", &Msg{}, &got); err != nil || got.Text != "node-b" {
		t.Fatalf("dead first candidate: got %+v, %v", got, err)
	}
	close(gate)
	if err := <-held; err != nil {
		t.Fatalf("held call: %v", err)
	}
}

func TestBreakerOpensRejectsFastHalfOpensAndCloses(t *testing.T) {
	srv := startCounting(t, "node-a")
	clock := resilience.NewFakeClock(time.Unix(1_700_000_000, 0))
	c := newClient(t, ClientConfig{Clock: clock})
	tgt, err := c.Target("t", Policy{
		Retry:          resilience.Retry{Attempts: 1},
		CircuitBreaker: resilience.BreakerConfig{FailureThreshold: 3, CoolDown: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	p := []Peer{srv.peer()}
	addr := srv.peer().Addr

	srv.failing.Store(true)
	for i := range 3 {
		if got := tgt.BreakerState(addr); got != resilience.Closed {
			t.Fatalf("after %d failures: %s", i, got)
		}
		wantCode(t, tgt.Invoke(ctx, p, "work", &Msg{}, nil), Unavailable)
	}
	if got, cgot := tgt.BreakerState(addr), c.BreakerState(addr); got != resilience.Open || cgot != resilience.Open {
		t.Fatalf("after threshold: target %s, client %s", got, cgot)
	}
	// Another target that has seen the peer answer: the client reports
	// the open breaker, under the node's name.
	other, err := c.Target("other", Policy{})
	if err != nil {
		t.Fatal(err)
	}
	other.record(addr, resilience.Success)
	want := []BreakerStat{{Addr: addr, Node: "node-a", State: resilience.Open}}
	if got := c.Breakers(); !slices.Equal(got, want) {
		t.Fatalf("Breakers() = %+v, want %+v", got, want)
	}
	// Open: rejected without touching the network.
	before := srv.calls.Load()
	err = tgt.Invoke(ctx, p, "work", &Msg{}, nil)
	if !errors.Is(err, ErrCircuitOpen) || !errors.Is(err, Unavailable) {
		t.Fatalf("open breaker: %v", err)
	}
	if srv.calls.Load() != before {
		t.Fatal("open breaker let a call through")
	}

	// Cool-down over: half-open admits exactly one probe.
	clock.Advance(10 * time.Second)
	if got := tgt.BreakerState(addr); got != resilience.HalfOpen {
		t.Fatalf("after cool-down: %s", got)
	}
	srv.failing.Store(false)
	gate := make(chan struct{})
	srv.mu.Lock()
	srv.gate = gate
	srv.mu.Unlock()
	probe := make(chan error, 1)
	go func() { probe <- tgt.Invoke(ctx, p, "work", &Msg{}, nil) }()
	Eventually(t, 5*time.Second, func() error {
		if srv.calls.Load() == before {
			return errors.New("probe not running")
		}
		return nil
	})
	if err := tgt.Invoke(ctx, p, "work", &Msg{}, nil); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("second call during the probe: %v", err)
	}
	close(gate)
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if got := tgt.BreakerState(addr); got != resilience.Closed {
		t.Fatalf("after a good probe: %s", got)
	}
	if err := tgt.Invoke(ctx, p, "work", &Msg{}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestKilledPeerOpensBreakerAndBalancerRoutesAround(t *testing.T) {
	servers := []*countingServer{startCounting(t, "node-a"), startCounting(t, "node-b"), startCounting(t, "node-c")}
	var peers []Peer
	for _, s := range servers {
		peers = append(peers, s.peer())
	}
	c := newClient(t, ClientConfig{})
	tgt, err := c.Target("t", Policy{
		Timeout:        time.Second,
		Retry:          resilience.Retry{Attempts: 3, BackoffBase: time.Millisecond},
		CircuitBreaker: resilience.BreakerConfig{FailureThreshold: 2, CoolDown: time.Hour},
		Balancer:       resilience.RoundRobin,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 60*time.Second)
	for range 6 { // warm: every peer serves
		if err := tgt.Invoke(ctx, peers, "work", &Msg{}, nil, Idempotent()); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range servers {
		if s.calls.Load() != 2 {
			t.Fatalf("round robin over 3 peers: %s served %d of 6", s.node, s.calls.Load())
		}
	}
	servers[1].crash()
	for i := range 30 {
		var got Msg
		if err := tgt.Invoke(ctx, peers, "work", &Msg{}, &got, Idempotent()); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got.Text == "node-b" {
			t.Fatalf("call %d answered by the killed peer", i)
		}
	}
	if got := tgt.BreakerState(peers[1].Addr); got != resilience.Open {
		t.Fatalf("killed peer's breaker is %s", got)
	}
	for _, i := range []int{0, 2} {
		if got := tgt.BreakerState(peers[i].Addr); got != resilience.Closed {
			t.Fatalf("%s breaker %s", servers[i].node, got)
		}
	}
	if a, cc := servers[0].calls.Load(), servers[2].calls.Load(); a+cc != 2+2+30 || a < 12 || cc < 12 {
		t.Fatalf("survivors served %d and %d", a, cc)
	}
}

func TestTargetValidationAndNoPeers(t *testing.T) {
	c := newClient(t, ClientConfig{})
	_, err := c.Target("replication", Policy{Balancer: "fastest", Retry: resilience.Retry{Attempts: -1}})
	if err == nil || !strings.Contains(err.Error(), "balancer") || !strings.Contains(err.Error(), "retry.attempts") {
		t.Fatalf("got %v", err)
	}
	tgt, err := c.Target("t", Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if tgt.Policy() != resilience.DefaultPolicy() {
		t.Fatalf("defaults not applied: %+v", tgt.Policy())
	}
	if err := tgt.Invoke(context.Background(), nil, "m", nil, nil); !errors.Is(err, ErrNoPeers) {
		t.Fatalf("no candidates: %v", err)
	}
}
