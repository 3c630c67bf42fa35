package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
)

// The browser guard. The API listens on loopback, where any web page the
// device's browser shows can reach it: through DNS rebinding (a name of
// the attacker's that resolves to 127.0.0.1, so the browser sends the
// attacker's name as Host and lets the page read the answers), or by a
// plain cross-site form or fetch that changes state without reading the
// answer. The guard refuses both, with or without tokens:
//
//   - a request whose Host is not a loopback name (localhost, 127.0.0.0/8,
//     ::1), an address of this node or one of HostPolicy.Hosts: 403;
//   - a request that may change state (any method but GET, HEAD and
//     OPTIONS) whose Origin names a host the first rule refuses (or is
//     "null", as sandboxed pages send), or that carries
//     Sec-Fetch-Site: cross-site: 403.
//
// Clients outside browsers send their target address as Host and no
// Origin (the Consul API client, the edgeplane CLI, curl), so they pass. A
// request without Host (HTTP/1.0 allows it) passes the first rule:
// browsers always send Host, and only a name in it makes rebinding
// possible.

// HostPolicy says which Host headers, besides loopback ones, the API
// answers.
type HostPolicy struct {
	// Hosts lists host names and IP addresses requests may name: this
	// node's addresses (its HTTP listener, bind and advertise addresses)
	// and the names users configure (http_allowed_hosts). Names match
	// without regard to case or a trailing dot; ports are ignored.
	Hosts []string

	// InterfaceAddrs also allows the addresses of this host's network
	// interfaces, read when a request names an IP address that nothing
	// else allows: for an agent listening or bound on an unspecified
	// address (0.0.0.0, ::), whose addresses are all of the host's.
	InterfaceAddrs bool
}

// guard applies the browser rules to each request before it is routed.
type guard struct {
	names          map[string]bool
	addrs          map[netip.Addr]bool
	interfaceAddrs bool
	// interfaces lists the host's interface addresses; a variable so that
	// tests can stand in for the host.
	interfaces func() ([]net.Addr, error)

	refusedHost      atomic.Uint64
	refusedCrossSite atomic.Uint64
	warn             rateLimitedLog
}

func newGuard(p HostPolicy) *guard {
	g := &guard{names: map[string]bool{}, addrs: map[netip.Addr]bool{},
		interfaceAddrs: p.InterfaceAddrs, interfaces: net.InterfaceAddrs}
	for _, h := range p.Hosts {
		if a, ok := parseHostAddr(h); ok {
			g.addrs[a] = true
		} else if h != "" {
			g.names[normalName(h)] = true
		}
	}
	return g
}

// guardRequest answers 403 and returns false when r breaks a rule.
func (a *API) guardRequest(w http.ResponseWriter, r *http.Request) bool {
	g := a.guard
	if !g.hostAllowed(r.Host) {
		g.refusedHost.Add(1)
		g.warn.log(a.log, "http api refused a request for a foreign Host", "host", clipHeader(r.Host), "remote", r.RemoteAddr)
		http.Error(w, fmt.Sprintf("Forbidden: Host %q is not allowed: this API answers requests for localhost, "+
			"this node's addresses and the names in http_allowed_hosts (a guard against DNS rebinding)", clipHeader(r.Host)),
			http.StatusForbidden)
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	if reason := g.crossSite(r.Header); reason != "" {
		g.refusedCrossSite.Add(1)
		g.warn.log(a.log, "http api refused a cross-site request", "reason", reason, "method", r.Method,
			"path", clipHeader(r.URL.Path), "remote", r.RemoteAddr)
		http.Error(w, "Forbidden: cross-site request refused: "+reason+
			"; a web page may not change this agent's state", http.StatusForbidden)
		return false
	}
	return true
}

// crossSite returns why the headers of a state-changing request mark it
// as sent by another site's page, or "" when they do not.
func (g *guard) crossSite(h http.Header) string {
	if h.Get("Sec-Fetch-Site") == "cross-site" {
		return "Sec-Fetch-Site is cross-site"
	}
	origins := h.Values("Origin")
	if len(origins) == 0 {
		return ""
	}
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || u.Opaque != "" || !g.hostAllowed(u.Host) {
			return fmt.Sprintf("Origin %q is not allowed", clipHeader(o))
		}
	}
	return ""
}

// hostAllowed applies the Host rule to a Host header or an origin's host,
// with or without a port.
func (g *guard) hostAllowed(hostport string) bool {
	if hostport == "" {
		return true // HTTP/1.0 without Host: not a browser
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if a, ok := parseHostAddr(host); ok {
		return a.IsLoopback() || g.addrs[a] || g.isInterfaceAddr(a)
	}
	name := normalName(host)
	return name == "localhost" || g.names[name]
}

// isInterfaceAddr reports whether a is an address of this host's
// interfaces, when the policy allows those.
func (g *guard) isInterfaceAddr(a netip.Addr) bool {
	if !g.interfaceAddrs {
		return false
	}
	addrs, err := g.interfaces()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok {
			if b, ok := netip.AddrFromSlice(n.IP); ok && b.Unmap() == a {
				return true
			}
		}
	}
	return false
}

// parseHostAddr parses an IP address as Host names it: IPv6 in brackets
// or bare, without a zone; IPv4-mapped IPv6 addresses are unmapped.
func parseHostAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// normalName folds case and drops the trailing dot of a fully qualified
// name.
func normalName(s string) string { return strings.TrimSuffix(strings.ToLower(s), ".") }

// clipHeader shortens a header value for a message or a log line.
func clipHeader(s string) string {
	const max = 100
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
