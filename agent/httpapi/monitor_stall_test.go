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
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/logstream"
	"github.com/edgeplane/edgeplane/store"
)

// stalledMonitor opens GET /v1/agent/monitor?loglevel=debug on addr over
// a raw connection and reads only the answer's status line: the stream's
// reader then stalls, as a client stopped in a debugger or behind a dead
// link does. It returns the connection, to read from later.
func stalledMonitor(tb testing.TB, addr string) (net.Conn, *bufio.Reader) {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /v1/agent/monitor?loglevel=debug HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	br := bufio.NewReaderSize(conn, 4096)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		tb.Fatalf("monitor: %q %v", status, err)
	}
	return conn, br
}

// monitorAPI serves an API over a durable store whose monitor streams
// log's lines.
func monitorAPI(tb testing.TB) (addr string, log *slog.Logger, hub *logstream.Hub) {
	tb.Helper()
	st, err := store.Open(tb.TempDir(), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	hub = logstream.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	api := New(Config{Store: st, Self: func() Self { return Self{NodeName: "n", Datacenter: "dc1"} },
		Monitor: hub, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(api) // listens on 127.0.0.1
	tb.Cleanup(func() {
		api.Close()
		srv.Close()
		st.Close()
	})
	return srv.Listener.Addr().String(), slog.New(hub), hub
}

// TestStalledMonitorLosesLines: a monitor whose reader stops reading
// never holds the agent's logging up (it goes on until lines are dropped:
// a liveness bound, not a speed), the lines the stream could not take are
// counted, and when the reader reads again it finds the dropped-lines
// marker.
func TestStalledMonitorLosesLines(t *testing.T) {
	addr, log, hub := monitorAPI(t)
	conn, br := stalledMonitor(t, addr)
	// Wait until the stream is subscribed: its first line comes through.
	opened := func() bool {
		log.Debug("probe")
		_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		l, err := br.ReadString('\n')
		return err == nil && strings.Contains(l, "probe")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !opened() {
		if time.Now().After(deadline) {
			t.Fatal("the monitor stream never opened")
		}
	}
	_ = conn.SetReadDeadline(time.Time{})

	// Log until lines are dropped: the stream's queue and the socket
	// buffers fill first. A writer held up by the reader would never get
	// there; the bounds are for that case.
	done := make(chan int, 1)
	go func() {
		i := 0
		for ; i < 2_000_000 && hub.Dropped() == 0; i++ {
			log.Debug("stall line with some padding to fill the socket buffers quickly", "i", i)
		}
		done <- i
	}()
	select {
	case n := <-done:
		if hub.Dropped() == 0 {
			t.Fatalf("%d lines to a stalled reader, none dropped", n)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the agent's logging waited for the stalled reader")
	}
	log.Debug("after the stall")
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	last := ""
	for n := 0; ; n++ {
		l, err := br.ReadString('\n')
		if err != nil || n > 2_000_000 {
			t.Fatalf("no dropped-lines marker after %d lines (%d dropped; last %q): %v", n, hub.Dropped(), last, err)
		}
		last = l
		if strings.Contains(l, "log lines: the reader fell behind") {
			break
		}
	}
}

// BenchmarkKVPutStalledMonitor: a durable KV PUT through the API while
// the agent logs a debug line per request, with no log stream and with
// one whose reader has stalled. The figures should match: a stalled
// reader loses lines, it does not slow the writes.
func BenchmarkKVPutStalledMonitor(b *testing.B) {
	for _, stalled := range []bool{false, true} {
		name := "no-monitor"
		if stalled {
			name = "stalled-monitor"
		}
		b.Run(name, func(b *testing.B) {
			addr, log, hub := monitorAPI(b)
			if stalled {
				stalledMonitor(b, addr)
				// Fill the stream's queue and the socket buffers (lines
				// are dropped well before both are full, as the writer
				// outpaces the stream): from here on the stream drops
				// each line.
				for i := 0; i < 4_000_000 && hub.Dropped() < 200_000; i++ {
					log.Debug("filling the stalled stream", "i", i)
				}
				if hub.Dropped() < 200_000 {
					b.Fatal("the stream takes the lines: not stalled")
				}
			}
			hc := &http.Client{Transport: &http.Transport{}}
			defer hc.CloseIdleConnections()
			ctx := context.Background()
			i, dropped := 0, hub.Dropped()
			for b.Loop() {
				log.Debug("kv put", "key", "bench/k", "i", i)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+addr+"/v1/kv/bench/k", strings.NewReader("value"))
				resp, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatal(resp.Status)
				}
				i++
			}
			b.ReportMetric(float64(hub.Dropped()-dropped)/float64(i), "dropped-lines/op")
		})
	}
}
