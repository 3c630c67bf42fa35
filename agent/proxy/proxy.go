package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/agent/tracing"
	"github.com/edgeplane/edgeplane/transport"
	"github.com/edgeplane/edgeplane/transport/resilience"
)

// Protocol is what an upstream listener speaks.
type Protocol string

// The protocols.
const (
	HTTP Protocol = "http"
)

// Upstream is a listener on this node through which Caller, a service
// registered here, calls Service.
type Upstream struct {
	Caller    string
	Service   string
	LocalBind string // host:port
	Protocol  Protocol
}

// Streamer starts server-streaming calls; *transport.Client implements
// it.
type Streamer interface {
	Stream(ctx context.Context, to transport.Peer, method string, req any, opts ...transport.CallOption) (*transport.ClientStream, error)
}

// Registrar registers server-streaming methods; *transport.Server
// implements it.
type Registrar interface {
	HandleStream(method string, h transport.StreamHandler)
}

// Config is what a Proxy runs with.
type Config struct {
	// Self is this node's name.
	Self string
	// Upstreams are the listeners to open.
	Upstreams []Upstream
	// Rules are the communication policies, resolved by Policies.
	Rules []Rule
	// View reads the catalog and the membership.
	View View
	// Mesh calls other agents.
	Mesh Streamer
	// Clock paces retries and drives the breakers. Default the system
	// clock.
	Clock resilience.Clock
	// Log receives the proxy's events. Default slog.Default().
	Log *slog.Logger
	// Tracer samples the calls' traces and records their spans (package
	// tracing). Default one that exports nothing, sampling every new
	// trace.
	Tracer *tracing.Tracer
}

// Validate reports a configuration New refuses, naming the field.
func (c *Config) Validate() error {
	var errs []error
	if c.Self == "" {
		errs = append(errs, errors.New("proxy: Config.Self is empty"))
	}
	if c.View == nil || c.Mesh == nil {
		errs = append(errs, errors.New("proxy: Config.View and Mesh are required"))
	}
	for i, u := range c.Upstreams {
		if u.Caller == "" || u.Service == "" {
			errs = append(errs, fmt.Errorf("proxy: Config.Upstreams[%d]: caller and service are required", i))
		}
		if u.Protocol != HTTP {
			errs = append(errs, fmt.Errorf("proxy: Config.Upstreams[%d].Protocol: %q is not supported (want http)", i, u.Protocol))
		}
	}
	return errors.Join(errs...)
}

// Proxy is one node's service proxy: the upstream listeners of its
// services, and the MethodHTTP handler that hands calls from other agents
// to the instances registered here.
type Proxy struct {
	cfg      Config
	policies *Policies
	tracer   *tracing.Tracer
	direct   *http.Transport // to the instances on this node
	log      *slog.Logger

	mu      sync.Mutex
	pairs   map[[2]string]*pair
	servers []*http.Server
	lns     []net.Listener
	wg      sync.WaitGroup
	closed  bool
}

// New binds the upstream listeners; they serve from Start. Serve
// registers the destination's handler.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = resilience.SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	pol, err := NewPolicies(cfg.Rules)
	if err != nil {
		return nil, err
	}
	if cfg.Tracer == nil {
		if cfg.Tracer, err = tracing.New(tracing.Config{SampleRatio: tracing.DefaultSampleRatio}); err != nil {
			return nil, err
		}
	}
	p := &Proxy{cfg: cfg, policies: pol, log: cfg.Log, tracer: cfg.Tracer, pairs: make(map[[2]string]*pair),
		direct: &http.Transport{
			DialContext:            (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost:    64,
			IdleConnTimeout:        90 * time.Second,
			DisableCompression:     true,
			MaxResponseHeaderBytes: maxHeaderBytes,
		}}
	for i, u := range cfg.Upstreams {
		ln, err := net.Listen("tcp", u.LocalBind)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("proxy: upstream %d (%s → %s): %w", i, u.Caller, u.Service, err)
		}
		p.lns = append(p.lns, ln)
		p.servers = append(p.servers, &http.Server{Handler: p.upstreamHandler(u), ReadHeaderTimeout: 10 * time.Second,
			MaxHeaderBytes: maxHeaderBytes, ErrorLog: slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug)})
	}
	return p, nil
}

// Addrs returns the upstream listeners' addresses, in the order of
// Config.Upstreams.
func (p *Proxy) Addrs() []net.Addr {
	out := make([]net.Addr, len(p.lns))
	for i, ln := range p.lns {
		out[i] = ln.Addr()
	}
	return out
}

// Start serves the upstream listeners until Close.
func (p *Proxy) Start(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("proxy: closed")
	}
	for i, srv := range p.servers {
		ln := p.lns[i]
		p.wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				p.log.Error("upstream listener failed", "addr", ln.Addr().String(), "err", err)
			}
		})
	}
	return nil
}

// Close stops the listeners, ends the calls in flight and returns once
// every goroutine the proxy started has returned.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	servers, lns := p.servers, p.lns
	p.mu.Unlock()
	for _, srv := range servers {
		srv.Close()
	}
	for _, ln := range lns { // listeners of servers that never served
		ln.Close()
	}
	p.wg.Wait()
	p.direct.CloseIdleConnections()
	return nil
}

// pair is the state of the calls from one service to another: its
// policy, balancer, breakers (one per instance) and calls in flight.
type pair struct {
	pol Policy

	mu          sync.Mutex
	bal         resilience.Balancer
	rng         *rand.Rand
	breakers    map[string]*resilience.Breaker
	outstanding map[string]int
	inFlight    int
}

func (p *Proxy) pair(from, to string) *pair {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := [2]string{from, to}
	if s, ok := p.pairs[k]; ok {
		return s
	}
	pol := p.policies.For(from, to)
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	bal, err := resilience.NewBalancer(pol.Balancer, rng)
	if err != nil { // validated in NewPolicies
		panic(err)
	}
	s := &pair{pol: pol, bal: bal, rng: rng, breakers: make(map[string]*resilience.Breaker), outstanding: make(map[string]int)}
	p.pairs[k] = s
	return s
}

// BreakerState reports the state of the breaker of the calls from one
// service to an instance (node, service ID): closed when never called.
func (p *Proxy) BreakerState(from, to, node, id string) resilience.State {
	s := p.pair(from, to)
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.breakers[node+"/"+id]
	if !ok {
		return resilience.Closed
	}
	return b.State(p.cfg.Clock.Now())
}
