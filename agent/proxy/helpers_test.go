package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/tracing"
	"github.com/edgeplane/edgeplane/transport"
	"github.com/edgeplane/edgeplane/transport/resilience"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

var (
	caOnce sync.Once
	testCA *tlsmesh.CA
	quiet  = slog.New(slog.DiscardHandler)
)

func fleetTLS(t testing.TB, node string) transport.TLSConfig {
	t.Helper()
	caOnce.Do(func() {
		var err error
		if testCA, err = tlsmesh.NewCA(tlsmesh.CAOptions{}); err != nil {
			panic(err)
		}
	})
	cert, err := testCA.IssueTLS(node, tlsmesh.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return transport.TLSConfig{Certificate: cert, VerifyPeer: tlsmesh.VerifyFleet(testCA.Pool(), time.Now)}
}

// world is the catalog and membership every node of a test mesh reads:
// one replica, as if replication were instant.
type world struct {
	mu        sync.Mutex
	index     uint64
	instances []catalog.NodeInstance
	checks    []catalog.NodeCheck
	sites     map[string]string
	rpc       map[string]string
	failed    map[string]bool
	// clock is the nodes' clock (breakers, backoff); nil: the system's.
	clock resilience.Clock
	// tracers are the nodes' tracers, by name; nil: the default.
	tracers map[string]*tracing.Tracer
}

func newWorld() *world {
	return &world{sites: map[string]string{}, rpc: map[string]string{}, failed: map[string]bool{}}
}

func (w *world) snapshot(context.Context) (catalog.Snapshot, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return catalog.Snapshot{Instances: append([]catalog.NodeInstance(nil), w.instances...),
		Checks: append([]catalog.NodeCheck(nil), w.checks...), Index: w.index, TableIndex: w.index}, nil
}

func (w *world) member(node string) (string, string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	site, ok := w.sites[node]
	return site, w.rpc[node], ok && !w.failed[node]
}

func (w *world) local(node string) func(id string) (catalog.Instance, bool) {
	return func(id string) (catalog.Instance, bool) {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, in := range w.instances {
			if in.Node == node && in.ID == id {
				return in.Instance, true
			}
		}
		return catalog.Instance{}, false
	}
}

// register adds an instance of service on node at addr (host:port) with
// one passing check.
func (w *world) register(node, service, id, addr string) {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.index++
	w.instances = append(w.instances, catalog.NodeInstance{Node: node,
		Instance: catalog.Instance{ID: id, Name: service, Address: host, Port: p, Weights: catalog.DefaultWeights}})
	w.checks = append(w.checks, catalog.NodeCheck{Node: node, ServiceName: service,
		Check: catalog.Check{ID: "chk:" + id, Name: "alive", ServiceID: id, Type: "ttl", Status: catalog.StatusPassing}})
}

// setStatus sets the status of the check of instance id on node.
func (w *world) setStatus(node, id, status string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.index++
	for i := range w.checks {
		if w.checks[i].Node == node && w.checks[i].ServiceID == id {
			w.checks[i].Status = status
		}
	}
}

// node is one agent of a test mesh: its RPC server and client and its
// proxy.
type node struct {
	name  string
	proxy *Proxy
	srv   *transport.Server
	cli   *transport.Client
}

// addr returns the address of the node's i-th upstream listener.
func (n *node) addr(i int) string { return n.proxy.Addrs()[i].String() }

// startNode starts an agent named name in site with the upstreams and
// rules given; it stops at cleanup.
func startNode(t testing.TB, w *world, name, site string, ups []Upstream, rules []Rule) *node {
	t.Helper()
	// The agent's trace interceptor, on both sides (agent/rpc.go).
	ics := []transport.Interceptor{transport.Trace()}
	srv, err := transport.NewServer(transport.ServerConfig{Addr: "127.0.0.1:0", TLS: fleetTLS(t, name), Logger: quiet, Interceptors: ics})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	cli, err := transport.NewClient(transport.ClientConfig{TLS: fleetTLS(t, name), Logger: quiet, Interceptors: ics})
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	w.sites[name], w.rpc[name] = site, srv.Addr().String()
	w.mu.Unlock()
	for i := range ups {
		ups[i].LocalBind = "127.0.0.1:0"
		ups[i].Protocol = HTTP
	}
	w.mu.Lock()
	tracer := w.tracers[name]
	w.mu.Unlock()
	p, err := New(Config{Self: name, Upstreams: ups, Rules: rules, Mesh: cli, Log: quiet, Clock: w.clock, Tracer: tracer,
		View: &CatalogView{Read: w.snapshot, Members: w.member, LocalService: w.local(name)}})
	if err != nil {
		t.Fatal(err)
	}
	p.Serve(srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		cli.Close()
		srv.Close()
		if err := <-served; err != nil && !errors.Is(err, transport.ErrServerClosed) {
			t.Errorf("%s: Serve: %v", name, err)
		}
	})
	return &node{name: name, proxy: p, srv: srv, cli: cli}
}

// app is an HTTP test server counting its requests and remembering the
// last one's headers.
type app struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64
	last atomic.Pointer[http.Header]
	// status, when set, is answered instead of 200.
	status atomic.Int64
}

func startApp(t testing.TB, name string) *app {
	t.Helper()
	a := &app{name: name}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.hits.Add(1)
		h := r.Header.Clone()
		a.last.Store(&h)
		body, _ := io.ReadAll(r.Body)
		if s := a.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		w.Header().Set("X-App", a.name)
		w.Write(body)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) addr() string { return a.srv.Listener.Addr().String() }

// testClient is the applications' HTTP client; its idle connections
// close at cleanup.
func testClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// do sends method to url with body and returns the response's status,
// its X-App and X-Edgeplane-Error headers and body.
func do(t testing.TB, c *http.Client, method, url, body string, hdr map[string]string) (int, string, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("X-App"), resp.Header.Get(ErrorHeader), string(b)
}
