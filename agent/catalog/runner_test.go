package catalog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/store"
)

// runners is a started catalog whose runners tell when they wait for
// their next run.
type runners struct {
	*Catalog
	clock   *fakeClock
	st      *store.Store
	armed   chan string
	horizon time.Time // the catalog's loop waits for anti-entropy at it
}

// noSync is the SyncInterval of startRunners: anti-entropy's timer stays
// beyond every timer of a runner.
const noSync = 1000 * time.Hour

// timers returns the times the runners' timers wait for, without the
// catalog loop's timer for anti-entropy.
func (r *runners) timers() []time.Time {
	var out []time.Time
	for _, at := range r.clock.Pending() {
		if at.Before(r.horizon) {
			out = append(out, at)
		}
	}
	return out
}

// startRunners builds and starts a catalog over a new store with a fake
// clock; set, when not nil, changes its Config.
func startRunners(t *testing.T, set func(*Config)) *runners {
	t.Helper()
	st := openStore(t, t.TempDir())
	clock := newFakeClock()
	cfg := Config{Store: st, Node: node, Clock: clock, SyncInterval: noSync, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if set != nil {
		set(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &runners{Catalog: c, clock: clock, st: st, armed: make(chan string, 4096), horizon: clock.Now().Add(noSync / 2)}
	c.armed = func(id string) { r.armed <- id }
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return r
}

// waitArmed waits until the runner of check id waits for its next run.
func (r *runners) waitArmed(t *testing.T, id string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-r.armed:
			if got == id {
				return
			}
		case <-deadline:
			t.Fatalf("the runner of %s did not wait for its next run", id)
		}
	}
}

// step advances the clock by d, which runs check id once, and waits for
// its runner to wait again.
func (r *runners) step(t *testing.T, id string, d time.Duration) {
	t.Helper()
	r.clock.Advance(d)
	r.waitArmed(t, id)
}

// registered registers body and waits for the runner of check id.
func (r *runners) registered(t *testing.T, body, id string) {
	t.Helper()
	register(t, r.Catalog, body, false)
	r.waitArmed(t, id)
}

// statusServer answers with the code it holds and the body "ok <n>", n
// counting the requests.
type statusServer struct {
	*httptest.Server
	code atomic.Int32
	hits atomic.Int32
}

func newStatusServer(t *testing.T) *statusServer {
	s := &statusServer{}
	s.code.Store(http.StatusOK)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.hits.Add(1)
		w.WriteHeader(int(s.code.Load()))
		fmt.Fprintf(w, "ok %d", n)
	}))
	t.Cleanup(s.Close)
	return s
}

// blockingServer answers no request until the test ends or the client
// hangs up; entered receives each request as it arrives.
func blockingServer(t *testing.T) (*httptest.Server, <-chan struct{}) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv, entered
}

// reached waits until a blocking handler signals that a check reached it.
func reached(t *testing.T, entered <-chan struct{}) {
	t.Helper()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the check did not reach the server")
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func wantRecord(t *testing.T, st *store.Store, id, status, output string) {
	t.Helper()
	rec, ok := recordCheck(t, st, id)
	if !ok || rec.Status != status || !strings.Contains(rec.Output, output) {
		t.Fatalf("check %s: record %+v (live %v), want %s with output containing %q", id, rec, ok, status, output)
	}
}

func TestHTTPCheck(t *testing.T) {
	r := startRunners(t, nil)
	srv := newStatusServer(t)
	r.registered(t, `{"Name":"web","Check":{"HTTP":"`+srv.URL+`/health","Interval":"10s"}}`, "service:web")
	if rec, _ := recordCheck(t, r.st, "service:web"); rec.Type != CheckTypeHTTP || rec.Status != StatusCritical {
		t.Fatalf("before its first run: %+v", rec)
	}
	r.step(t, "service:web", 10*time.Second) // the first run, within the interval
	wantRecord(t, r.st, "service:web", StatusPassing, "HTTP GET "+srv.URL+"/health: 200 OK Output: ok 1")
	for _, tc := range []struct {
		code   int
		status string
	}{{http.StatusTooManyRequests, StatusWarning}, {http.StatusInternalServerError, StatusCritical}, {http.StatusNoContent, StatusPassing}, {http.StatusFound, StatusCritical}} {
		srv.code.Store(int32(tc.code))
		r.step(t, "service:web", 10*time.Second)
		wantRecord(t, r.st, "service:web", tc.status, fmt.Sprintf(": %d %s", tc.code, http.StatusText(tc.code)))
	}
	if got, _ := r.CheckByID("service:web"); got.Active == nil || got.Active.HTTP != srv.URL+"/health" {
		t.Fatalf("CheckByID reports %+v", got)
	}
	if err := r.UpdateTTL("service:web", StatusPassing, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("UpdateTTL of an HTTP check: %v", err)
	}

	addr := closedAddr(t)
	r.registered(t, `{"Name":"down","Check":{"HTTP":"http://`+addr+`/","Interval":"10s"}}`, "service:down")
	r.clock.Advance(10 * time.Second)
	r.waitArmed(t, "service:down")
	wantRecord(t, r.st, "service:down", StatusCritical, "connection refused")
}

func TestTCPCheck(t *testing.T) {
	r := startRunners(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	open := ln.Addr().String()
	r.registered(t, `{"Name":"db","Check":{"TCP":"`+open+`","Interval":"10s"}}`, "service:db")
	r.step(t, "service:db", 10*time.Second)
	wantRecord(t, r.st, "service:db", StatusPassing, "TCP connect "+open+": Success")

	closed := closedAddr(t)
	r.registered(t, `{"Name":"db","Check":{"TCP":"`+closed+`","Interval":"10s"}}`, "service:db") // a new definition restarts it
	if got, _ := r.CheckByID("service:db"); got.Status != StatusPassing {
		t.Fatalf("re-registering changed the status: %+v", got)
	}
	r.step(t, "service:db", 10*time.Second)
	wantRecord(t, r.st, "service:db", StatusCritical, "connection refused")
}

func scriptBody(script string) string {
	return `{"Name":"job","Check":{"Args":["/bin/sh","-c",` + fmt.Sprintf("%q", script) + `],"Interval":"10s","Timeout":"5s"}}`
}

func TestScriptCheck(t *testing.T) {
	r := startRunners(t, func(cfg *Config) { cfg.EnableLocalScriptChecks = true })
	for _, tc := range []struct {
		script, status, output string
	}{
		{"echo fine; exit 0", StatusPassing, "fine"},
		{"echo slow >&2; exit 1", StatusWarning, "slow"},
		{"echo out; echo broken >&2; exit 2", StatusCritical, "out\nbroken"},
		{"head -c 10000 /dev/zero | tr '\\0' a", StatusPassing, "Captured 4096 of 10000 bytes\n...\naaa"},
	} {
		reg, err := ParseRegistrationWith([]byte(scriptBody(tc.script)), ParseOptions{LocalScriptChecks: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Register(reg, true); err != nil {
			t.Fatal(err)
		}
		r.waitArmed(t, "service:job")
		r.step(t, "service:job", 10*time.Second)
		wantRecord(t, r.st, "service:job", tc.status, tc.output)
		if rec, _ := recordCheck(t, r.st, "service:job"); len(rec.Output) > MaxOutput || rec.Type != CheckTypeScript {
			t.Fatalf("%s: %d bytes of output, type %s", tc.script, len(rec.Output), rec.Type)
		}
	}

	// Through the API, or with enable_local_script_checks off, a script
	// check is refused.
	if _, err := ParseRegistration([]byte(scriptBody("true"))); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a script check through the API: %v", err)
	}
	off := startRunners(t, nil)
	reg, _ := ParseRegistrationWith([]byte(scriptBody("true")), ParseOptions{LocalScriptChecks: true})
	if err := off.Register(reg, false); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "enable_local_script_checks") {
		t.Fatalf("a script check without enable_local_script_checks: %v", err)
	}
}

// A run past its timeout is critical, on the catalog's clock: a server
// that never answers, a script that never ends.
func TestCheckTimeout(t *testing.T) {
	r := startRunners(t, func(cfg *Config) { cfg.EnableLocalScriptChecks = true })
	srv, entered := blockingServer(t)
	r.registered(t, `{"Name":"web","Check":{"HTTP":"`+srv.URL+`","Interval":"10s","Timeout":"2s"}}`, "service:web")
	r.clock.Advance(10 * time.Second)
	reached(t, entered)
	r.clock.Advance(2 * time.Second)
	r.waitArmed(t, "service:web")
	wantRecord(t, r.st, "service:web", StatusCritical, "HTTP GET "+srv.URL+": timed out after 2s")

	reg, err := ParseRegistrationWith([]byte(scriptBody("echo started; exec sleep 600")), ParseOptions{LocalScriptChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Register(reg, false); err != nil {
		t.Fatal(err)
	}
	r.waitArmed(t, "service:job")
	r.clock.Advance(10 * time.Second)
	r.clock.WaitTimer(t, r.clock.Now().Add(5*time.Second))
	r.clock.Advance(5 * time.Second)
	r.waitArmed(t, "service:job")
	wantRecord(t, r.st, "service:job", StatusCritical, "Timed out (5s) running check")
}

func TestDamper(t *testing.T) {
	const P, W, C = StatusPassing, StatusWarning, StatusCritical
	for _, tc := range []struct {
		name              string
		success, warn, cr int
		in, want          string // one letter a run; want "-" for nothing reported
	}{
		{"none", 0, 0, 0, "PCWCP", "PCWCP"},
		{"the first failure counts at once", 2, 0, 3, "C", "C"},
		{"the first success counts at once", 2, 0, 3, "P", "P"},
		{"successes before passing", 2, 0, 0, "CPPPCP", "C-PPC-"},
		{"warning is a success", 2, 0, 0, "CWPW", "C-PW"},
		{"failures before critical", 0, 0, 3, "PCCCPC", "P--CP-"},
		{"failures before warning", 0, 1, 3, "PCCCC", "PWWCC"},
		{"both", 2, 2, 3, "PCCCPPP", "P-WC-PP"},
	} {
		d := newDamper(&ActiveCheck{SuccessBeforePassing: tc.success, FailuresBeforeWarning: tc.warn, FailuresBeforeCritical: tc.cr})
		var got strings.Builder
		for _, c := range tc.in {
			status := map[rune]string{'P': P, 'W': W, 'C': C}[c]
			if s, ok := d.update(status); ok {
				got.WriteByte(strings.ToUpper(s[:1])[0])
			} else {
				got.WriteByte('-')
			}
		}
		if got.String() != tc.want {
			t.Errorf("%s: %s reported %s, want %s", tc.name, tc.in, got.String(), tc.want)
		}
	}
}

// Damping through a runner: failures turn the check critical only after
// FailuresBeforeCritical of them in a row.
func TestCheckDamping(t *testing.T) {
	r := startRunners(t, nil)
	srv := newStatusServer(t)
	r.registered(t, `{"Name":"web","Check":{"HTTP":"`+srv.URL+`","Interval":"10s","success_before_passing":2,"failures_before_critical":2}}`, "service:web")
	r.step(t, "service:web", 10*time.Second)
	wantRecord(t, r.st, "service:web", StatusPassing, "ok 1")
	srv.code.Store(http.StatusServiceUnavailable)
	r.step(t, "service:web", 10*time.Second)
	wantRecord(t, r.st, "service:web", StatusPassing, "ok 1")
	r.step(t, "service:web", 10*time.Second)
	wantRecord(t, r.st, "service:web", StatusCritical, "503 Service Unavailable Output: ok 3")
	srv.code.Store(http.StatusOK)
	r.step(t, "service:web", 10*time.Second)
	wantRecord(t, r.st, "service:web", StatusCritical, "ok 3")
	r.step(t, "service:web", 10*time.Second)
	wantRecord(t, r.st, "service:web", StatusPassing, "ok 5")
}

// Checks registered together run at random phases within their
// interval, not together.
func TestRandomPhase(t *testing.T) {
	r := startRunners(t, nil)
	addr := closedAddr(t)
	start := r.clock.Now()
	const n = 8
	for i := range n {
		r.registered(t, fmt.Sprintf(`{"Name":"s%d","Check":{"TCP":%q,"Interval":"1m"}}`, i, addr), fmt.Sprintf("service:s%d", i))
	}
	due := r.timers()
	if len(due) != n {
		t.Fatalf("%d timers, want %d", len(due), n)
	}
	distinct := map[time.Time]bool{}
	for _, at := range due {
		if at.Before(start) || !at.Before(start.Add(time.Minute)) {
			t.Fatalf("a first run at +%v, not within the interval", at.Sub(start))
		}
		distinct[at] = true
	}
	if len(distinct) < 2 {
		t.Fatalf("%d checks all run first at +%v", n, due[0].Sub(start))
	}
}

// Write economy: a check whose output changes every run and whose status
// stays the same is written at most every CheckUpdateInterval; a change
// of status is written at once.
func TestRunWriteEconomy(t *testing.T) {
	r := startRunners(t, nil)
	srv := newStatusServer(t)
	r.registered(t, `{"Name":"web","Check":{"HTTP":"`+srv.URL+`","Interval":"10s"}}`, "service:web")
	sub := r.st.Subscribe("test", 1024)
	defer sub.Close()
	writes := func() int {
		changes, _ := sub.Poll()
		n := 0
		for _, ch := range changes {
			if ch.Table == Table {
				n++
			}
		}
		return n
	}
	total := 0
	for range 30 * 6 { // 30 minutes of runs every 10 seconds
		r.step(t, "service:web", 10*time.Second)
		total += writes()
	}
	if srv.hits.Load() != 180 {
		t.Fatalf("%d runs, want 180", srv.hits.Load())
	}
	t.Logf("%d writes in 30 minutes", total)
	if total > 7 || total < 2 {
		t.Fatalf("%d writes to the catalog table in 30 minutes, want 2 to 7", total)
	}
	srv.code.Store(http.StatusInternalServerError)
	r.step(t, "service:web", 10*time.Second)
	wantRecord(t, r.st, "service:web", StatusCritical, "500 Internal Server Error")
}

// DeregisterCriticalServiceAfter: the service goes once the check has
// been critical that long, and not before; a pass in between restarts
// the count.
func TestDeregisterCriticalServiceAfter(t *testing.T) {
	st := openStore(t, t.TempDir())
	clock := newFakeClock()
	c := startCatalog(t, st, clock)
	register(t, c, `{"Name":"web","Check":{"TTL":"10m","deregister_critical_service_after":"1m"}}`, false)
	register(t, c, `{"Name":"db","Check":{"TTL":"10m","DeregisterCriticalServiceAfter":"1m"}}`, false)
	clock.Advance(30 * time.Second)
	if err := c.UpdateTTL("service:web", StatusPassing, ""); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateTTL("service:web", StatusCritical, "down"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(29 * time.Second) // db critical for 59s, web for 29s
	if _, ok := c.Service("db"); !ok {
		t.Fatal("db deregistered before its time")
	}
	clock.Advance(time.Second)
	waitDeregistered(t, c, st, "db")
	if _, ok := c.Service("web"); !ok {
		t.Fatal("web deregistered though it passed 30s ago")
	}
	clock.Advance(30 * time.Second)
	waitDeregistered(t, c, st, "web")
}

// Deregistering or replacing a check stops its runner; registering a
// check of a slow server does not wait for it, nor does Close.
func TestRunnersStop(t *testing.T) {
	r := startRunners(t, nil)
	slow, entered := blockingServer(t)
	r.registered(t, `{"Name":"web","Check":{"HTTP":"`+slow.URL+`","Interval":"10s","Timeout":"1h"}}`, "service:web")
	r.clock.Advance(10 * time.Second)
	reached(t, entered)
	if err := r.Deregister("web"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := len(r.timers()); n != 0 {
			return fmt.Errorf("%d timers still wait", n)
		}
		return nil
	})

	r.registered(t, `{"Name":"web","Check":{"HTTP":"`+slow.URL+`","Interval":"10s","Timeout":"1h"}}`, "service:web")
	r.registered(t, `{"Name":"db","Check":{"TCP":"`+closedAddr(t)+`","Interval":"10s"}}`, "service:db")
	r.clock.Advance(10 * time.Second)
	reached(t, entered)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(Registration{Service: Instance{ID: "x", Name: "x", Weights: DefaultWeights}}, false); !errors.Is(err, ErrClosed) {
		t.Fatalf("Register after Close: %v", err)
	}
}

// A server that answers an endless body: the check reads MaxOutput bytes
// of it and hangs up, and keeps that much output.
func TestHTTPCheckHugeBody(t *testing.T) {
	r := startRunners(t, nil)
	var written atomic.Int64
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer close(done)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for written.Load() < 1<<30 {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	r.registered(t, `{"Name":"web","Check":{"HTTP":"`+srv.URL+`","Interval":"10s"}}`, "service:web")
	r.step(t, "service:web", 10*time.Second)
	got, _ := r.CheckByID("service:web")
	if got.Status != StatusPassing || len(got.Output) != MaxOutput || !strings.HasSuffix(got.Output, "xxxx") {
		t.Fatalf("%s, %d bytes of output", got.Status, len(got.Output))
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server still writes")
	}
	if n := written.Load(); n >= 1<<30 {
		t.Fatalf("the check read the whole body: %d bytes", n)
	}
}

// An HTTP check sends its method, headers and body, Consul's User-Agent,
// and a Host header as the request's host; TLSSkipVerify accepts a
// certificate no authority signed, which is refused otherwise.
func TestHTTPCheckRequest(t *testing.T) {
	r := startRunners(t, nil)
	got := make(chan *http.Request, 1)
	bodies := make(chan string, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		select {
		case got <- req:
			bodies <- string(b)
		default: // a later run
		}
	}))
	defer srv.Close()
	r.registered(t, `{"Name":"web","Check":{"HTTP":"`+srv.URL+`/h","Interval":"10s","Method":"PUT","Body":"ping",
		"Header":{"x-key":["a","b"],"Host":["svc.local"]},"tls_skip_verify":true}}`, "service:web")
	r.step(t, "service:web", 10*time.Second)
	wantRecord(t, r.st, "service:web", StatusPassing, "HTTP PUT "+srv.URL+"/h: 200 OK")
	req, body := <-got, <-bodies
	if req.Method != http.MethodPut || body != "ping" || req.Host != "svc.local" || req.UserAgent() != httpUserAgent ||
		strings.Join(req.Header.Values("X-Key"), ",") != "a,b" || req.Header.Get("Accept") != httpAccept {
		t.Fatalf("request %s %s host %s headers %v body %q", req.Method, req.URL, req.Host, req.Header, body)
	}

	r.registered(t, `{"Name":"strict","Check":{"HTTP":"`+srv.URL+`","Interval":"10s"}}`, "service:strict")
	r.step(t, "service:strict", 10*time.Second)
	wantRecord(t, r.st, "service:strict", StatusCritical, "certificate")
}

// waitDeregistered waits until service id and its check "service:<id>"
// are gone, their records too.
func waitDeregistered(t *testing.T, c *Catalog, st *store.Store, id string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, ok := c.Service(id); ok {
			return fmt.Errorf("%s still registered", id)
		}
		if _, ok := recordCheck(t, st, "service:"+id); ok {
			return fmt.Errorf("%s's check record is live", id)
		}
		return nil
	})
}
