package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/store"
)

// waitStat waits until a figure of the API's Stats reads want.
func waitStat(t *testing.T, api *API, name, want string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := api.Stats()[name]; got != want {
			return fmt.Errorf("%s = %q, want %q", name, got, want)
		}
		return nil
	})
}

// blockingGet starts a blocking GET of u in the background; its result
// arrives on the returned channel. Cancelling ctx ends it.
func blockingGet(ctx context.Context, u string) <-chan error {
	done := make(chan error, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
		if err != nil {
			done <- err
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("blocking GET %s: %s", u, resp.Status)
		}
		done <- err
	}()
	return done
}

func TestBlockingQueriesPastTheCapAreRefused(t *testing.T) {
	srv, st, api := testAPI(t, func(c *Config) { c.MaxBlockingQueries = 2 })
	e, err := st.Put("k", []byte("v"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put("other", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	blockK := fmt.Sprintf("%s/v1/kv/k?index=%d&wait=1m", srv.URL, e.ModifyIndex)
	blockOther := fmt.Sprintf("%s/v1/kv/other?index=%d&wait=1m", srv.URL, st.Index())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := blockingGet(ctx, blockK)
	otherCtx, cancelOther := context.WithCancel(ctx)
	defer cancelOther()
	second := blockingGet(otherCtx, blockOther)
	waitStat(t, api, "blocking_queries", "2")

	// Every slot is taken: a third blocking query is refused.
	resp, body := do(t, "GET", blockK, "")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "5" || !resp.Close {
		t.Fatalf("third blocking query = %d (Retry-After %q, close %v) %q, want 429, Retry-After 5 and the connection closed",
			resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close, body)
	}
	if got := api.Stats()["refused_blocking"]; got != "1" {
		t.Errorf("refused_blocking = %q, want 1", got)
	}
	// Queries that do not wait are served: plain reads, and a blocking
	// query whose index has already passed.
	if resp, body := do(t, "GET", srv.URL+"/v1/kv/k", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("plain read at the cap = %d %q", resp.StatusCode, body)
	}
	if resp, body := do(t, "GET", fmt.Sprintf("%s/v1/kv/?recurse&index=%d", srv.URL, e.ModifyIndex-1), ""); resp.StatusCode != http.StatusOK {
		t.Errorf("blocking query on a passed index at the cap = %d %q", resp.StatusCode, body)
	}

	// A change answers the first query and frees its slot, and a client
	// that goes away frees its own: new queries are admitted.
	if _, err := st.Put("k", []byte("v2"), 0); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	cancelOther()
	<-second
	waitStat(t, api, "blocking_queries", "0")
	// The change woke one query; the client that went away woke none.
	if got := api.Stats()["blocking_woken"]; got != "1" {
		t.Errorf("blocking_woken = %q, want 1", got)
	}
	third := blockingGet(ctx, fmt.Sprintf("%s/v1/kv/k?index=%d&wait=1m", srv.URL, st.Index()))
	fourth := blockingGet(ctx, fmt.Sprintf("%s/v1/kv/other?index=%d&wait=1m", srv.URL, st.Index()))
	waitStat(t, api, "blocking_queries", "2")
	if got := api.Stats()["refused_blocking"]; got != "1" {
		t.Errorf("refused_blocking = %q after slots were freed, want still 1", got)
	}
	cancel()
	<-third
	<-fourth
}

// TestBlockingQueriesWithoutCap: 0 sets no cap.
func TestBlockingQueriesWithoutCap(t *testing.T) {
	srv, st, api := testAPI(t, nil)
	if _, err := st.Put("k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var waiting []<-chan error
	for range 5 {
		waiting = append(waiting, blockingGet(ctx, fmt.Sprintf("%s/v1/kv/k?index=%d&wait=1m", srv.URL, st.Index())))
	}
	waitStat(t, api, "blocking_queries", "5")
	cancel()
	for _, w := range waiting {
		<-w
	}
	if got := api.Stats()["max_blocking_queries"]; got != "0" {
		t.Errorf("max_blocking_queries = %q, want 0", got)
	}
}

// limitedServer serves the API on 127.0.0.1 through a ConnLimiter of
// perClient connections per client and total in all.
func limitedServer(t *testing.T, perClient, total int) (*httptest.Server, *ConnLimiter, *API) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	limiter := NewConnLimiter(perClient, total, log)
	api := New(Config{Store: st, Log: log, Conns: limiter,
		Self: func() Self { return Self{NodeName: "node-a", Datacenter: "dc1"} }})
	srv := httptest.NewUnstartedServer(api)
	srv.Listener = limiter.Listener(srv.Listener)
	srv.Start()
	t.Cleanup(func() {
		api.Close()
		srv.Close()
		st.Close()
	})
	return srv, limiter, api
}

// rawConn is a client connection that sends requests by hand.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

// dialFrom connects to srv from the local address ip.
func dialFrom(t *testing.T, srv *httptest.Server, ip string) *rawConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// get sends a keep-alive GET of /v1/status/leader and returns its status,
// or the error that ended the connection.
func (c *rawConn) get() (int, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("GET /v1/status/leader HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestConnectionsPerClientAreCapped(t *testing.T) {
	srv, limiter, api := limitedServer(t, 3, 0)
	var open []*rawConn
	for i := range 3 {
		c := dialFrom(t, srv, "127.0.0.1")
		if code, err := c.get(); err != nil || code != 200 {
			t.Fatalf("connection %d: %d, %v", i+1, code, err)
		}
		open = append(open, c)
	}
	// The fourth from the same address is closed at accept.
	over := dialFrom(t, srv, "127.0.0.1")
	if code, err := over.get(); err == nil {
		t.Fatalf("a connection past the cap was served: %d", code)
	}
	if got := limiter.Refused(); got != 1 {
		t.Errorf("Refused = %d, want 1", got)
	}
	// Another client address has its own count.
	other := dialFrom(t, srv, "127.0.0.2")
	if code, err := other.get(); err != nil || code != 200 {
		t.Fatalf("a connection from another address: %d, %v", code, err)
	}
	// A closed connection gives its place back.
	open[0].Close()
	waitAdmitted(t, srv, "127.0.0.1")
	// The open connections kept working throughout.
	for i, c := range open[1:] {
		if code, err := c.get(); err != nil || code != 200 {
			t.Errorf("open connection %d: %d, %v", i+2, code, err)
		}
	}
	if got, want := api.Stats()["max_conns_per_client"], "3"; got != want {
		t.Errorf("max_conns_per_client = %q, want %q", got, want)
	}
	refused, _ := strconv.Atoi(api.Stats()["refused_conns"])
	if refused < 1 {
		t.Errorf("refused_conns = %d, want at least 1", refused)
	}
}

func TestConnectionsInAllAreCapped(t *testing.T) {
	srv, limiter, api := limitedServer(t, 3, 4)
	var open []*rawConn
	for i := range 4 {
		c := dialFrom(t, srv, fmt.Sprintf("127.0.0.%d", i+2))
		if code, err := c.get(); err != nil || code != 200 {
			t.Fatalf("connection %d: %d, %v", i+1, code, err)
		}
		open = append(open, c)
	}
	// A fifth client address is refused: the cap is on all clients.
	if code, err := dialFrom(t, srv, "127.0.0.9").get(); err == nil {
		t.Fatalf("a connection past the total cap was served: %d", code)
	}
	if got := limiter.Refused(); got != 1 {
		t.Errorf("Refused = %d, want 1", got)
	}
	// The everyday local address is not crowded out; its own cap holds.
	for i := range 3 {
		if code, err := dialFrom(t, srv, "127.0.0.1").get(); err != nil || code != 200 {
			t.Fatalf("connection %d from 127.0.0.1 with the total cap reached: %d, %v", i+1, code, err)
		}
	}
	if code, err := dialFrom(t, srv, "127.0.0.1").get(); err == nil {
		t.Fatalf("a connection past 127.0.0.1's own cap was served: %d", code)
	}
	if got := api.Stats()["conns"]; got != "7" {
		t.Errorf("conns = %q, want 7", got)
	}
	open[2].Close()
	waitAdmitted(t, srv, "127.0.0.9")
	if got := api.Stats()["max_conns"]; got != "4" {
		t.Errorf("max_conns = %q, want 4", got)
	}
}

// waitAdmitted waits until a new connection from ip is served, as it is
// once a closed one has given its place back.
func waitAdmitted(t *testing.T, srv *httptest.Server, ip string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		c := dialFrom(t, srv, ip)
		defer c.Close()
		if _, err := c.get(); err != nil {
			return fmt.Errorf("after a close, a new connection from %s: %v", ip, err)
		}
		return nil
	})
}

// TestManyClientConnectionsUnderTheDefault: a client with many
// connections at once, as the CLI's and the tests' clients open, is
// served up to the default cap.
func TestManyClientConnectionsUnderTheDefault(t *testing.T) {
	srv, limiter, _ := limitedServer(t, 200, 2048) // the defaults
	const n = 150
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		c := dialFrom(t, srv, "127.0.0.1")
		wg.Go(func() {
			if code, err := c.get(); err != nil || code != 200 {
				errs <- fmt.Errorf("%d, %v", code, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := limiter.Refused(); got != 0 {
		t.Errorf("Refused = %d, want 0", got)
	}
}
