package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/transport/resilience"
)

// mesh is site X (a1, a2) and site Y (b1): checkout on a1 calls billing
// through its upstream; billing runs on a2 and b1.
type mesh struct {
	w          *world
	a1, a2, b1 *node
	onA2, onB1 *app
	client     *http.Client
	url        string
}

func newMesh(t *testing.T, rules ...Rule) *mesh {
	t.Helper()
	return newMeshWithClock(t, nil, rules...)
}

func newMeshWithClock(t *testing.T, clock resilience.Clock, rules ...Rule) *mesh {
	t.Helper()
	w := newWorld()
	w.clock = clock
	return newMeshIn(t, w, rules...)
}

// newMeshIn starts the mesh's nodes in w.
func newMeshIn(t *testing.T, w *world, rules ...Rule) *mesh {
	t.Helper()
	m := &mesh{w: w, client: testClient(t)}
	m.onA2, m.onB1 = startApp(t, "billing-a2"), startApp(t, "billing-b1")
	checkout := startApp(t, "checkout")
	m.a1 = startNode(t, m.w, "a1", "X", []Upstream{{Caller: "checkout", Service: "billing"}}, rules)
	m.a2 = startNode(t, m.w, "a2", "X", nil, rules)
	m.b1 = startNode(t, m.w, "b1", "Y", nil, rules)
	m.w.register("a1", "checkout", "checkout", checkout.addr())
	m.w.register("a2", "billing", "billing", m.onA2.addr())
	m.w.register("b1", "billing", "billing", m.onB1.addr())
	m.url = "http://" + m.a1.addr(0)
	return m
}

// TestProxyLocality: calls stay in the caller's site while an instance
// there passes, move to the other site when it turns critical, and come
// back when it passes again.
func TestProxyLocality(t *testing.T) {
	m := newMesh(t)
	landOn := func(want string, n int) {
		t.Helper()
		for i := range n {
			code, from, perr, body := do(t, m.client, "GET", m.url+"/pay?n=1", "", nil)
			if code != 200 || from != want || perr != "" {
				t.Fatalf("call %d: %d from %q (%q %q), want 200 from %s", i, code, from, perr, body, want)
			}
		}
	}
	landOn("billing-a2", 100)
	if h := m.onB1.hits.Load(); h != 0 {
		t.Fatalf("b1 got %d calls while a2 passed", h)
	}
	m.w.setStatus("a2", "billing", catalog.StatusCritical)
	landOn("billing-b1", 50)
	m.w.setStatus("a2", "billing", catalog.StatusPassing)
	landOn("billing-a2", 20)
	if h := m.onA2.hits.Load(); h != 120 {
		t.Fatalf("a2 served %d calls, want 120", h)
	}

	m.w.setStatus("a2", "billing", catalog.StatusCritical)
	m.w.setStatus("b1", "billing", catalog.StatusWarning)
	if code, _, perr, _ := do(t, m.client, "GET", m.url+"/", "", nil); code != 503 || perr != string(NoHealthyUpstream) {
		t.Fatalf("no passing instance: %d %q, want 503 no-healthy-upstream", code, perr)
	}
}

// TestProxySiteOnly: under site_only a call never leaves the site.
func TestProxySiteOnly(t *testing.T) {
	m := newMesh(t, Rule{From: "checkout", To: "billing", Policy: Policy{Locality: SiteOnly}})
	m.w.setStatus("a2", "billing", catalog.StatusCritical)
	if code, _, perr, _ := do(t, m.client, "GET", m.url+"/", "", nil); code != 503 || perr != string(NoHealthyUpstream) && perr != string(CircuitOpen) {
		t.Fatalf("site_only with no instance in the site: %d %q, want 503", code, perr)
	}
	if h := m.onB1.hits.Load(); h != 0 {
		t.Fatalf("b1 in another site got %d calls under site_only", h)
	}
}

// TestProxyCallerHeaders: the instance sees the caller's identity as the
// agents established it, not as the application claimed it, and no
// hop-by-hop header.
func TestProxyCallerHeaders(t *testing.T) {
	m := newMesh(t)
	code, _, _, body := do(t, m.client, "PUT", m.url+"/x", "hello", map[string]string{
		"Edgeplane-Caller-Service": "admin", "Edgeplane-Caller-Node": "b1", "Edgeplane-Caller-Extra": "1",
		"Connection": "X-Secret", "X-Secret": "s", "X-Kept": "k"})
	if code != 200 || body != "hello" {
		t.Fatalf("PUT: %d %q", code, body)
	}
	h := *m.onA2.last.Load()
	for k, want := range map[string]string{"Edgeplane-Caller-Service": "checkout", "Edgeplane-Caller-Node": "a1",
		"Edgeplane-Caller-Site": "X", "Edgeplane-Caller-Extra": "", "X-Secret": "", "X-Kept": "k"} {
		if got := h.Get(k); got != want {
			t.Errorf("instance saw %s %q, want %q", k, got, want)
		}
	}
}

// TestProxySameNode: an instance on the caller's node is called
// directly, and preferred to the site's.
func TestProxySameNode(t *testing.T) {
	m := newMesh(t)
	local := startApp(t, "billing-a1")
	m.w.register("a1", "billing", "billing", local.addr())
	for range 10 {
		if code, from, _, _ := do(t, m.client, "GET", m.url+"/", "", nil); code != 200 || from != "billing-a1" {
			t.Fatalf("got %d from %q, want billing-a1", code, from)
		}
	}
	if got := (*local.last.Load()).Get(CallerNodeHdr); got != "a1" {
		t.Fatalf("caller node %q, want a1", got)
	}
	if h := m.onA2.hits.Load(); h != 0 {
		t.Fatalf("a2 got %d calls with an instance on the caller's node", h)
	}
}

// TestProxyRetryOtherInstance: an idempotent call answered 503 is sent
// to the other instance; a call whose instance refused the connection is
// retried even as a POST, for it never reached the application.
func TestProxyRetryOtherInstance(t *testing.T) {
	m := newMesh(t, Rule{From: "checkout", To: "billing", Policy: Policy{Balancer: resilience.RoundRobin, Attempts: 2}})
	bad := startApp(t, "billing-a2-bad")
	bad.status.Store(503)
	m.w.register("a2", "billing", "billing-bad", bad.addr())
	for i := range 4 {
		if code, from, _, _ := do(t, m.client, "GET", m.url+"/", "", nil); code != 200 || from != "billing-a2" {
			t.Fatalf("GET %d: %d from %q, want 200 from billing-a2", i, code, from)
		}
	}
	if bad.hits.Load() == 0 {
		t.Fatal("the failing instance was never tried: the test proves nothing")
	}

	gone := startApp(t, "gone")
	gone.srv.Close() // a registered instance whose port refuses connections
	m.w.setStatus("a2", "billing-bad", catalog.StatusCritical)
	m.w.register("a2", "billing", "billing-gone", gone.addr())
	before := m.onA2.hits.Load()
	for i := range 4 {
		if code, from, perr, _ := do(t, m.client, "POST", m.url+"/", "x", nil); code != 200 || from != "billing-a2" {
			t.Fatalf("POST %d: %d from %q (%q), want 200 from billing-a2", i, code, from, perr)
		}
	}
	if got := m.onA2.hits.Load() - before; got != 4 {
		t.Fatalf("a2 served %d POSTs, want 4", got)
	}
}

// TestProxyPostNotRetried: a POST without Idempotency-Key that reached
// the application is not sent again; with the key it is.
func TestProxyPostNotRetried(t *testing.T) {
	m := newMesh(t, Rule{From: "checkout", To: "billing", Policy: Policy{Attempts: 3}})
	m.onA2.status.Store(503)
	m.onB1.status.Store(503)
	code, _, perr, _ := do(t, m.client, "POST", m.url+"/", "x", nil)
	if code != 503 || perr != "" {
		t.Fatalf("POST: %d %q, want the application's 503", code, perr)
	}
	if got := m.onA2.hits.Load() + m.onB1.hits.Load(); got != 1 {
		t.Fatalf("the POST reached the application %d times, want 1", got)
	}
	do(t, m.client, "POST", m.url+"/", "x", map[string]string{"Idempotency-Key": "k1"})
	if got := m.onA2.hits.Load() + m.onB1.hits.Load(); got != 4 {
		t.Fatalf("the POST with a key reached the application %d times in all, want 1+3", got)
	}
}

// TestProxyBreaker: after FailureThreshold consecutive failures the
// instance's breaker opens and calls are refused without reaching it.
func TestProxyBreaker(t *testing.T) {
	m := newMesh(t, Rule{From: "checkout", To: "billing", Policy: Policy{Attempts: 1, Locality: SiteOnly,
		Breaker: resilience.BreakerConfig{FailureThreshold: 3, CoolDown: time.Hour}}})
	m.onA2.status.Store(503)
	for i := range 3 {
		if code, _, perr, _ := do(t, m.client, "GET", m.url+"/", "", nil); code != 503 || perr != "" {
			t.Fatalf("call %d: %d %q, want the application's 503", i, code, perr)
		}
	}
	if s := m.a1.proxy.BreakerState("checkout", "billing", "a2", "billing"); s != resilience.Open {
		t.Fatalf("breaker %v after 3 failures, want open", s)
	}
	for range 5 {
		if code, _, perr, _ := do(t, m.client, "GET", m.url+"/", "", nil); code != 503 || perr != string(CircuitOpen) {
			t.Fatalf("with the breaker open: %d %q, want 503 circuit-open", code, perr)
		}
	}
	if h := m.onA2.hits.Load(); h != 3 {
		t.Fatalf("a2 got %d calls, want 3: an open breaker must not dial", h)
	}
}

// TestProxyTimeout: an instance slower than the policy's timeout is
// answered 504 timeout, and its request's context ends.
func TestProxyTimeout(t *testing.T) {
	m := newMesh(t, Rule{From: "checkout", To: "billing", Policy: Policy{Timeout: 300 * time.Millisecond, Attempts: 1}})
	slow, _, ended := newBlockingApp(t)
	m.w.setStatus("a2", "billing", catalog.StatusCritical)
	m.w.setStatus("b1", "billing", catalog.StatusCritical)
	m.w.register("a2", "billing", "billing-slow", slow)
	code, _, perr, _ := do(t, m.client, "POST", m.url+"/", "x", nil)
	if code != 504 || perr != string(Timeout) {
		t.Fatalf("slow instance: %d %q, want 504 timeout", code, perr)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the instance's request was not cancelled")
	}
}

// TestProxyOverloaded: past max_concurrent calls in flight, the next is
// refused at once.
func TestProxyOverloaded(t *testing.T) {
	m := newMesh(t, Rule{From: "checkout", To: "billing", Policy: Policy{MaxConcurrent: 1, Timeout: time.Second, PerTryTimeout: time.Second, Attempts: 1}})
	slow, started, _ := newBlockingApp(t)
	m.w.setStatus("a2", "billing", catalog.StatusCritical)
	m.w.setStatus("b1", "billing", catalog.StatusCritical)
	m.w.register("a2", "billing", "billing-slow", slow)
	first := make(chan int, 1)
	go func() {
		resp, err := m.client.Get(m.url + "/")
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the first call never reached the instance")
	}
	if code, _, perr, _ := do(t, m.client, "GET", m.url+"/", "", nil); code != 503 || perr != string(Overloaded) {
		t.Fatalf("a second call with one in flight: %d %q, want 503 overloaded", code, perr)
	}
	if code := <-first; code != 504 {
		t.Fatalf("the first call: %d, want 504 once its timeout ran out", code)
	}
}

// newBlockingApp starts an instance that answers nothing until its
// request's context ends; started and ended receive once per request.
func newBlockingApp(t *testing.T) (addr string, started, ended chan struct{}) {
	started, ended = make(chan struct{}, 16), make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // the server notices a closed connection once the body is read
		started <- struct{}{}
		<-r.Context().Done()
		ended <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), started, ended
}

// TestProxyBreakerHalfOpen: once the site's instance's breaker opens,
// calls leave the site; when its cool-down (open_for) ends one probe goes
// back, and as it succeeds the breaker closes and traffic returns.
func TestProxyBreakerHalfOpen(t *testing.T) {
	clock := resilience.NewFakeClock(time.Now())
	m := newMeshWithClock(t, clock, Rule{From: "checkout", To: "billing", Policy: Policy{Attempts: 1,
		Breaker: resilience.BreakerConfig{FailureThreshold: 3, CoolDown: 30 * time.Second}}})
	m.onA2.status.Store(503)
	for range 3 {
		do(t, m.client, "GET", m.url+"/", "", nil)
	}
	for i := range 5 {
		if code, from, _, _ := do(t, m.client, "GET", m.url+"/", "", nil); code != 200 || from != "billing-b1" {
			t.Fatalf("call %d with a2's breaker open: %d from %q, want 200 from billing-b1", i, code, from)
		}
	}
	m.onA2.status.Store(0) // a2 recovers
	clock.Advance(29 * time.Second)
	if _, from, _, _ := do(t, m.client, "GET", m.url+"/", "", nil); from != "billing-b1" {
		t.Fatalf("before open_for ended: from %q, want billing-b1", from)
	}
	clock.Advance(time.Second)
	if s := m.a1.proxy.BreakerState("checkout", "billing", "a2", "billing"); s != resilience.HalfOpen {
		t.Fatalf("breaker %v once open_for ended, want half-open", s)
	}
	for i := range 5 {
		if code, from, _, _ := do(t, m.client, "GET", m.url+"/", "", nil); code != 200 || from != "billing-a2" {
			t.Fatalf("call %d after the probe: %d from %q, want 200 from billing-a2", i, code, from)
		}
	}
	if s := m.a1.proxy.BreakerState("checkout", "billing", "a2", "billing"); s != resilience.Closed {
		t.Fatalf("breaker %v after a successful probe, want closed", s)
	}
}
