package sdnotify

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
)

// HealthProbe is the check an agent's readiness and watchdog pings wait
// on: a read of its store, then a request to its own HTTP API over a new
// connection. It passes when both answer.
type HealthProbe struct {
	// ReadStore reads the store. It does not take ctx: a store that does
	// not answer keeps the check from returning, and the watchdog starts
	// no other (see Watchdog.Check).
	ReadStore func() error

	// API is the address the HTTP API listens on; an unspecified address
	// (0.0.0.0, ::) is reached through loopback.
	API net.Addr

	// Path is requested with GET and must answer 200.
	Path string

	// Token, when set, is sent as X-Consul-Token: the agent's own token
	// for an API that requires one.
	Token string
}

// probeClient makes a new connection for every probe, so that a probe
// proves the API still accepts connections, not only that one stays open.
var probeClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// Check runs the probe.
func (p HealthProbe) Check(ctx context.Context) error {
	if err := p.ReadStore(); err != nil {
		return fmt.Errorf("store read: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+probeAddr(p.API)+p.Path, nil)
	if err != nil {
		return fmt.Errorf("http api probe: %w", err)
	}
	if p.Token != "" {
		req.Header.Set("X-Consul-Token", p.Token)
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return fmt.Errorf("http api probe: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("http api probe: %s answered %s", p.Path, resp.Status)
	}
	return nil
}

// probeAddr is where the process reaches its own listener: an unspecified
// address (0.0.0.0, ::) is reached through loopback.
func probeAddr(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	ip := net.IPv4(127, 0, 0, 1)
	if tcp.IP.To4() == nil {
		ip = net.IPv6loopback
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}
