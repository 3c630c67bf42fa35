package config

import (
	"net"
	"net/netip"
	"strings"
)

// checkAllowedHosts accepts host names and IP addresses without port: the
// HTTP API matches them against the host part of Host and Origin headers,
// whatever the port.
func checkAllowedHosts(hosts []string) error {
	for i, h := range hosts {
		if err := checkAllowedHost(h); err != nil {
			return invalidf("entry %d (%q): %v", i+1, clip(h), err)
		}
	}
	return nil
}

func checkAllowedHost(h string) error {
	if h == "" {
		return invalidf("empty host")
	}
	if _, _, err := net.SplitHostPort(h); err == nil {
		return invalidf("give the host without a port; every port is allowed")
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err == nil {
		if a.IsUnspecified() {
			return invalidf("%s is no address a client can name", a)
		}
		return nil
	}
	if strings.Contains(h, "*") {
		return invalidf("wildcards are not supported; list each name")
	}
	if !isHost(strings.TrimSuffix(h, ".")) {
		return invalidf("not an IP address or host name")
	}
	return nil
}
