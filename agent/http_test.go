package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/logstream"
	"github.com/edgeplane/edgeplane/transport"
)

// TestHTTPAPIGuardAndLimitsAreWired runs an agent with the guard's and the
// limits' options set, and checks that each reaches its API: foreign Host
// and cross-site writes are refused, the per-client cap closes
// connections while the agent's own health probe still passes, and
// /v1/agent/self reports it all.
func TestHTTPAPIGuardAndLimitsAreWired(t *testing.T) {
	ta := newTestAgentWith(t, func(c *config.Config) {
		c.HTTPAllowedHosts = []string{"gw-0042.example"}
		c.HTTPMaxConnsPerClient = 3
		c.HTTPMaxConns = 50
		c.HTTPMaxBlockingQueries = 7
	})
	ta.run(t, Hooks{})
	ta.sock.WaitFor(wait, isReady)

	send := func(host, path string, header map[string]string, method string) (int, string, error) {
		req, err := http.NewRequest(method, ta.url(path), nil)
		if err != nil {
			return 0, "", err
		}
		if host != "" {
			req.Host = host
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		// A connection per request, so that none lingers against the cap.
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	get := func(host, path string, header map[string]string, method string) (int, string) {
		t.Helper()
		code, body, err := send(host, path, header, method)
		if err != nil {
			t.Fatal(err)
		}
		return code, body
	}
	if code, body := get("evil.example:8500", "/v1/agent/self", nil, "GET"); code != http.StatusForbidden {
		t.Errorf("Host evil.example = %d %q, want 403", code, body)
	}
	if code, body := get("GW-0042.example", "/v1/agent/self", nil, "GET"); code != http.StatusOK {
		t.Errorf("Host of http_allowed_hosts = %d %q, want 200", code, body)
	}
	if code, body := get("", "/v1/agent/leave", map[string]string{"Origin": "https://evil.example"}, "PUT"); code != http.StatusForbidden {
		t.Errorf("cross-site leave = %d %q, want 403", code, body)
	}
	select {
	case <-ta.halt.Done():
		t.Fatal("a cross-site leave stopped the agent")
	default:
	}

	// Three connections from 127.0.0.1, each served; the fourth is closed.
	// The server counts a connection until it has seen it closed: wait
	// until it has seen the requests' above.
	testutil.Eventually(t, wait, func() error {
		if n := ta.http.api.Limits().Conns; n != 0 {
			return fmt.Errorf("%d connections still counted", n)
		}
		return nil
	})
	var conns []net.Conn
	for i := range 4 {
		c, err := net.DialTimeout("tcp", ta.HTTPAddr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /v1/status/leader HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if i < 3 && err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		if i == 3 && err == nil {
			t.Fatalf("connection past http_max_conns_per_client served: %s", resp.Status)
		}
		conns = append(conns, c)
	}
	// The agent's own probe connects from another loopback address.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := ta.CheckHealth(ctx); err != nil {
		t.Fatalf("health check with 127.0.0.1's connections used up: %v", err)
	}
	for _, c := range conns {
		c.Close()
	}

	// Once the server has seen them closed, 127.0.0.1 may connect again.
	var self struct{ Stats map[string]map[string]string }
	testutil.Eventually(t, wait, func() error {
		code, body, err := send("", "/v1/agent/self", nil, "GET")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("GET /v1/agent/self = %d %q", code, body)
		}
		return json.Unmarshal([]byte(body), &self)
	})
	want := map[string]string{"max_conns_per_client": "3", "max_blocking_queries": "7", "max_conns": "50", "idle_timeout": "30s",
		"refused_host": "1", "refused_cross_site": "1"}
	for k, v := range want {
		if got := self.Stats["http"][k]; got != v {
			t.Errorf("Stats.http.%s = %q, want %q (all: %v)", k, got, v, self.Stats["http"])
		}
	}
	if got := self.Stats["http"]["refused_conns"]; got == "0" || got == "" {
		t.Errorf("Stats.http.refused_conns = %q, want the refused connection counted", got)
	}
	if !strings.Contains(ta.logs.String(), "refused connections past http_max_conns_per_client") {
		t.Errorf("no log line for the refused connection")
	}
}

func TestHTTPHosts(t *testing.T) {
	listen := func(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	for _, tt := range []struct {
		name       string
		bind, adv  string
		allowed    []string
		listen     net.Addr
		advertised net.IP
		want       httpapi.HostPolicy
	}{
		{"dev", "127.0.0.1", "", nil, listen("127.0.0.1:8500"), net.ParseIP("127.0.0.1"),
			httpapi.HostPolicy{Hosts: []string{"127.0.0.1", "127.0.0.1", "127.0.0.1"}}},
		{"production defaults", "0.0.0.0", "", nil, listen("127.0.0.1:8500"), net.ParseIP("10.1.0.5"),
			httpapi.HostPolicy{Hosts: []string{"127.0.0.1", "10.1.0.5"}, InterfaceAddrs: true}},
		{"addresses named", "10.1.0.5", "192.0.2.10", []string{"gw.example"}, listen("[::1]:8500"), net.ParseIP("192.0.2.10"),
			httpapi.HostPolicy{Hosts: []string{"gw.example", "10.1.0.5", "192.0.2.10", "::1", "192.0.2.10"}}},
		{"API on every interface", "10.1.0.5", "", nil, listen("0.0.0.0:8500"), nil,
			httpapi.HostPolicy{Hosts: []string{"10.1.0.5"}, InterfaceAddrs: true}},
	} {
		cfg := config.Default()
		cfg.BindAddr, cfg.AdvertiseAddr, cfg.HTTPAllowedHosts = tt.bind, tt.adv, tt.allowed
		got := httpHosts(cfg, tt.listen, tt.advertised)
		if !slices.Equal(got.Hosts, tt.want.Hosts) || got.InterfaceAddrs != tt.want.InterfaceAddrs {
			t.Errorf("%s: httpHosts = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestMonitorServedFromTheLogHub: /v1/agent/monitor is served when the
// agent's log goes through a logstream.Hub (the binary's does), and
// derived loggers keep it.
func TestMonitorServedFromTheLogHub(t *testing.T) {
	hub := logstream.New(slog.NewTextHandler(io.Discard, nil))
	if monitorOf(slog.New(hub).With("node", "a")) == nil {
		t.Fatal("a hub-backed log serves no monitor")
	}
	if monitorOf(discardLog()) != nil {
		t.Fatal("a plain log claims to serve a monitor")
	}
}

// TestMonitorOfWrappedHub: the log stream is served when the agent's
// handler is a logstream.Hub or wraps one, as the binary's TraceLog does;
// another handler serves none.
func TestMonitorOfWrappedHub(t *testing.T) {
	hub := logstream.New(slog.NewTextHandler(io.Discard, nil))
	if monitorOf(slog.New(hub)) == nil || monitorOf(slog.New(transport.TraceLog(hub))) == nil {
		t.Fatal("no monitor over the hub")
	}
	if monitorOf(slog.New(transport.TraceLog(slog.NewTextHandler(io.Discard, nil)))) != nil {
		t.Fatal("a monitor without a hub")
	}
}
