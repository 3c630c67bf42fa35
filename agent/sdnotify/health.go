package sdnotify

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
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
var probeClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: dialProbe}}

// plainProbeClient is probeClient connecting from the address the system
// picks.
var plainProbeClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// dialProbe connects to the API. To an IPv4 loopback address it connects
// from a random address of 127.0.0.0/8 other than 127.0.0.1: the API caps
// the connections of each client address (http_max_conns_per_client), and
// a local process that holds all of 127.0.0.1's must not make the agent
// fail its own health check. Where the source cannot be bound (a system
// with 127.0.0.1 alone on loopback) it dials as usual; where the API
// refuses the connection (its cap on connections from all addresses but
// 127.0.0.1 and ::1, http_max_conns), Check tries once more from
// 127.0.0.1, so that only an attack on both caps at once fails the check.
func dialProbe(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Addr().Is4() && ap.Addr().IsLoopback() {
		src := net.Dialer{LocalAddr: &net.TCPAddr{IP: probeSource()}}
		if c, err := src.DialContext(ctx, network, addr); err == nil {
			return c, nil
		}
	}
	return d.DialContext(ctx, network, addr)
}

// probeSource picks a loopback address other than 127.0.0.1.
func probeSource() net.IP {
	return net.IPv4(127, byte(1+rand.N(254)), byte(rand.N(256)), byte(1+rand.N(254)))
}

// Check runs the probe.
func (p HealthProbe) Check(ctx context.Context) error {
	if err := p.ReadStore(); err != nil {
		return fmt.Errorf("store read: %w", err)
	}
	url := "http://" + probeAddr(p.API) + p.Path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("http api probe: %w", err)
	}
	if p.Token != "" {
		req.Header.Set("X-Consul-Token", p.Token)
	}
	resp, err := probeClient.Do(req)
	if err != nil && ctx.Err() == nil {
		// Refused from its own address, perhaps for the API's cap on
		// connections from addresses other than 127.0.0.1: once more
		// from the system's choice.
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err = plainProbeClient.Do(req)
	}
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
