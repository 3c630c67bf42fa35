package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/sdnotify"
)

// TestHTTPLoad loads a real agent's local HTTP API, on 127.0.0.0/8 only,
// with 10,000 blocking queries and 10,000 idle keep-alive connections, and
// logs what the agent refused, its resident memory (VmHWM and VmRSS from
// /proc/PID/status) and the latency of its health probe (the watchdog's
// GET /v1/agent/self on a new connection, every 100ms) while under load.
// It fails if the probe ever fails or the agent's peak resident memory
// reaches the default memory_limit; the latency is reported, not
// asserted.
//
// It runs only when EDGEPLANE_HTTP_LOAD=1, with enough file descriptors
// for 20,000 sockets: scripts/http-load.sh sets both, builds a release
// agent (EDGEPLANE_BIN) and prints the figures the README quotes.
//
// Three phases run against one agent with its default limits:
//
//   - one client: every connection from 127.0.0.1, as every local
//     process connects, so http_max_conns_per_client applies to them all;
//   - many clients: the same numbers spread over 127.0.0.2 and up, 200 per
//     address, as a process that binds other loopback addresses could, so
//     that http_max_conns and http_max_blocking_queries are what remain;
//   - the blocking queries alone, spread the same way.
//
// Each phase opens its connections (at most 256 dials in flight), holds
// them for EDGEPLANE_HTTP_LOAD_HOLD_SECONDS (default 10), then closes the
// blocking ones; the second phase then watches the agent close the idle
// ones. EDGEPLANE_HTTP_LOAD_QUERIES and EDGEPLANE_HTTP_LOAD_IDLE change
// the numbers (default 10,000 each), EDGEPLANE_HTTP_LOAD_ARGS adds agent
// flags (such as -http-max-blocking-queries 256).
func TestHTTPLoad(t *testing.T) {
	if os.Getenv("EDGEPLANE_HTTP_LOAD") != "1" {
		t.Skip("set EDGEPLANE_HTTP_LOAD=1 (scripts/http-load.sh) to load an agent with 20,000 connections")
	}
	const perAddr = 200 // http_max_conns_per_client's default
	queries := envInt(t, "EDGEPLANE_HTTP_LOAD_QUERIES", 10000)
	idle := envInt(t, "EDGEPLANE_HTTP_LOAD_IDLE", 10000)
	hold := time.Duration(envInt(t, "EDGEPLANE_HTTP_LOAD_HOLD_SECONDS", 10)) * time.Second
	p := startAgent(t, append([]string{"-dev", "-data-dir", t.TempDir()}, strings.Fields(os.Getenv("EDGEPLANE_HTTP_LOAD_ARGS"))...)...)
	pid := p.cmd.Process.Pid
	index := putIndex(t, p, "load/k")
	base := procStatus(t, pid)
	t.Logf("agent at rest: VmRSS %d MiB", base["VmRSS"]>>20)

	one := func(int) string { return "127.0.0.1" }
	spread := func(first int) func(int) string {
		return func(i int) string { return loopbackAddr(first + i/perAddr) }
	}
	loadPhase(t, p, "one client (127.0.0.1)", queries, idle, index, one, one, hold, false)
	next := 2 + (queries+perAddr-1)/perAddr
	loadPhase(t, p, fmt.Sprintf("many clients (%d per address)", perAddr), queries, idle, index,
		spread(2), spread(next), hold, true)
	loadPhase(t, p, fmt.Sprintf("blocking queries alone, many clients (%d per address)", perAddr), queries, 0, index,
		spread(2), spread(next), hold, false)
}

// envInt reads an integer from the environment variable name, or returns
// def when it is not set.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a count", name, s)
	}
	return n
}

// loopbackAddr returns the n-th address of 127.0.0.0/8, n from 1.
func loopbackAddr(n int) string { return fmt.Sprintf("127.0.%d.%d", n/250, 1+n%250) }

// loadPhase opens queries blocking queries and idle idle connections, from
// the source addresses querySrc and idleSrc give the i-th of each, holds
// them, and logs the outcome.
func loadPhase(t *testing.T, p *agentProc, name string, queries, idle int, index uint64,
	querySrc, idleSrc func(int) string, hold time.Duration, watchIdle bool) {
	t.Helper()
	pid := p.cmd.Process.Pid
	// Reset the peak resident size to the current one.
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	probe := startLoadProbe(ctx, t, p.httpAddr)
	start := time.Now()
	held, release := context.WithCancel(ctx)
	defer release()

	var st loadCounts
	var wg sync.WaitGroup
	dialing := make(chan struct{}, 256) // dials in flight, so that accept keeps up
	idleConns := make(chan net.Conn, idle)
	path := fmt.Sprintf("/v1/kv/load/k?index=%d&wait=5m", index)
	for i := range queries + idle {
		blocking := i%2 == 0 && i/2 < queries || i/2 >= idle
		var src string
		if blocking {
			src = querySrc(int(st.blockingSent.Add(1) - 1))
		} else {
			src = idleSrc(int(st.idleSent.Add(1) - 1))
		}
		dialing <- struct{}{}
		wg.Go(func() {
			c, err := dialFrom(ctx, src, p.httpAddr)
			<-dialing
			if err != nil {
				st.dialFailed.Add(1)
				return
			}
			if blocking {
				st.blockingQuery(held, c, path)
				return
			}
			if st.idleConn(c) {
				idleConns <- c
			}
		})
	}
	openedAt := time.Now()
	opened := openedAt.Sub(start)
	// The blocking queries wait, the idle connections are held.
	time.Sleep(hold) // the load's duration, not synchronisation
	loaded := procStatus(t, pid)
	heldUntil := time.Now()
	release()
	wg.Wait()
	close(idleConns)
	var report strings.Builder
	fmt.Fprintf(&report, "## %s\n", name)
	fmt.Fprintf(&report, "connections opened in %s\n", opened.Round(time.Millisecond))
	fmt.Fprintf(&report, "blocking queries: %d waiting, %d answered 429, %d refused at accept, %d other answers\n",
		st.waiting.Load(), st.tooMany.Load(), st.refused.Load(), st.other.Load())
	fmt.Fprintf(&report, "idle connections: %d held, %d refused at accept; %d dials failed\n",
		len(idleConns), st.idleRefused.Load(), st.dialFailed.Load())
	fmt.Fprintf(&report, "agent memory under load: VmHWM %d MiB, VmRSS %d MiB\n", loaded["VmHWM"]>>20, loaded["VmRSS"]>>20)
	if watchIdle {
		fmt.Fprintf(&report, "idle connections closed by the agent: %s\n", watchIdleClosed(idleConns, start, 45*time.Second))
	} else {
		for c := range idleConns {
			c.Close()
		}
	}
	cancel()
	probe.wait()
	fmt.Fprintf(&report, "health probe (the watchdog's GET /v1/agent/self, every 100ms) while the connections open: %s\n",
		probe.summary(start, openedAt))
	fmt.Fprintf(&report, "health probe while the load is held: %s", probe.summary(openedAt, heldUntil))
	t.Logf("load figures:\n%s", report.String())
	if hwm := loaded["VmHWM"]; hwm >= memoryLimit {
		t.Errorf("%s: agent peak resident memory %d MiB, want under memory_limit %d MiB", name, hwm>>20, memoryLimit>>20)
	}
	if n := probe.failed(); n > 0 {
		t.Errorf("%s: %d health probes failed", name, n)
	}
}

// putIndex writes key and returns its modify index.
func putIndex(t *testing.T, p *agentProc, key string) uint64 {
	t.Helper()
	if out, errOut, code := p.cli(t, "kv", "put", key, "v"); code != 0 {
		t.Fatalf("kv put: %d %s %s", code, out, errOut)
	}
	resp, err := http.Get(p.url("/v1/kv/" + key))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	idx, err := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// loadCounts are a phase's outcomes.
type loadCounts struct {
	blockingSent, idleSent atomic.Int64
	waiting, tooMany       atomic.Int64
	refused, other         atomic.Int64
	idleRefused            atomic.Int64
	dialFailed             atomic.Int64
}

// blockingQuery sends a blocking query on c and waits for its answer
// until held ends: an answer is a 429 (or another status), a closed
// connection a refusal, no answer a query still waiting.
func (s *loadCounts) blockingQuery(held context.Context, c net.Conn, path string) {
	defer c.Close()
	stop := context.AfterFunc(held, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		s.waiting.Add(1)
	case err != nil:
		s.refused.Add(1)
	case resp.StatusCode == http.StatusTooManyRequests:
		s.tooMany.Add(1)
	default:
		s.other.Add(1)
	}
}

// idleConn makes one request on c and reports whether c is left open and
// idle; it closes c otherwise.
func (s *loadCounts) idleConn(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "GET /v1/status/leader HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		s.idleRefused.Add(1)
		c.Close()
		return false
	}
	c.SetDeadline(time.Time{})
	return true
}

// watchIdleClosed waits up to limit for the agent to close the idle
// connections, and says when it did, counted from start.
func watchIdleClosed(conns <-chan net.Conn, start time.Time, limit time.Duration) string {
	var (
		mu     sync.Mutex
		closed []time.Duration
		wg     sync.WaitGroup
		n      int
	)
	deadline := time.Now().Add(limit)
	for c := range conns {
		n++
		wg.Go(func() {
			defer c.Close()
			c.SetReadDeadline(deadline)
			_, err := c.Read(make([]byte, 1))
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return
			}
			mu.Lock()
			closed = append(closed, time.Since(start))
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(closed) == 0 {
		return fmt.Sprintf("none of %d within %s", n, limit)
	}
	slices.Sort(closed)
	return fmt.Sprintf("%d of %d, between %s and %s after the phase began",
		len(closed), n, closed[0].Round(time.Second), closed[len(closed)-1].Round(time.Second))
}

// dialFrom connects to addr from the local address src.
func dialFrom(ctx context.Context, src, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return d.DialContext(ctx, "tcp", addr)
}

// loadProbe measures GET /v1/agent/self on a new connection every 100ms.
type loadProbe struct {
	mu      sync.Mutex
	samples []probeSample
	done    chan struct{}
}

// probeSample is one probe: when it started, how long it took, or why it
// failed.
type probeSample struct {
	at      time.Time
	latency time.Duration
	err     error
}

func startLoadProbe(ctx context.Context, t *testing.T, addr string) *loadProbe {
	api, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// The agent's own health probe, without its read of the store.
	hp := sdnotify.HealthProbe{ReadStore: func() error { return nil }, API: api, Path: "/v1/agent/self"}
	p := &loadProbe{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			t0 := time.Now()
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := hp.Check(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			p.mu.Lock()
			p.samples = append(p.samples, probeSample{at: t0, latency: time.Since(t0), err: err})
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *loadProbe) wait() { <-p.done }

func (p *loadProbe) failed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, smp := range p.samples {
		if smp.err != nil {
			n++
		}
	}
	return n
}

// summary reports the probes that started in [from, to).
func (p *loadProbe) summary(from, to time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var (
		l        []time.Duration
		failures []string
	)
	for _, smp := range p.samples {
		switch {
		case smp.at.Before(from) || !smp.at.Before(to):
		case smp.err != nil:
			failures = append(failures, smp.err.Error())
		default:
			l = append(l, smp.latency)
		}
	}
	slices.Sort(l)
	first := ""
	if len(failures) > 0 {
		first = " (first: " + failures[0] + ")"
	}
	if len(l) == 0 {
		return fmt.Sprintf("no answer, %d failures%s", len(failures), first)
	}
	pct := func(q float64) time.Duration { return l[min(len(l)-1, int(q*float64(len(l))))] }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	return fmt.Sprintf("%d probes, p50 %s, p99 %s, max %s, %d failed%s",
		len(l)+len(failures), ms(pct(0.50)), ms(pct(0.99)), ms(l[len(l)-1]), len(failures), first)
}
