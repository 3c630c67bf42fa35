package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/logstream"
)

// TestMonitorWithConsulClient: the Consul Go client's Agent().Monitor
// streams the agent's lines at the level asked; a bad level is 400; past
// MaxMonitors streams the next is 429; closing the API ends the streams.
func TestMonitorWithConsulClient(t *testing.T) {
	hub := logstream.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	log := slog.New(hub)
	srv, _, api := testAPI(t, func(c *Config) { c.Monitor = hub })
	c := consulClient(t, srv)

	stopCh := make(chan struct{})
	lines, err := c.Agent().Monitor("debug", stopCh, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for got := false; !got; {
		log.Debug("probe sent", "node", "b") // until the stream is open
		select {
		case l := <-lines:
			got = strings.Contains(l, `msg="probe sent"`)
		case <-time.After(20 * time.Millisecond): // polling interval
		case <-deadline:
			t.Fatal("no debug line through the Consul client")
		}
	}
	close(stopCh)

	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(srv.URL + "/v1/agent/monitor?loglevel=loud")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown level: %s", resp.Status)
	}

	var open []*http.Response
	for range MaxMonitors + 1 {
		resp, err := hc.Get(srv.URL + "/v1/agent/monitor?logjson")
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, resp)
	}
	codes := map[int]int{}
	for _, r := range open {
		codes[r.StatusCode]++
	}
	// The Consul client's stream may still hold its place: at least one 429.
	if codes[http.StatusTooManyRequests] < 1 || codes[http.StatusOK] > MaxMonitors {
		t.Fatalf("statuses of %d streams: %v", MaxMonitors+1, codes)
	}
	api.Close()
	for _, r := range open {
		done := make(chan struct{})
		go func() { io.Copy(io.Discard, r.Body); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("a stream outlived the API's Close")
		}
		r.Body.Close()
	}
}
