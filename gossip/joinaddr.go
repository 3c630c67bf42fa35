package gossip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Errors Join wraps, so callers can tell whose fault a failed join is.
var (
	// ErrBadAddress reports a join address that is malformed or whose host
	// name does not exist: asking again will not help.
	ErrBadAddress = errors.New("gossip: bad join address")
	// ErrNoAnswer reports join addresses that are well formed but where no
	// agent answered (nothing listening, unreachable, or a name server that
	// did not answer).
	ErrNoAnswer = errors.New("gossip: no agent answered at the join address")
)

// resolveTimeout bounds the look-up of one join address's host name.
const resolveTimeout = 10 * time.Second

// lookupIPAddr resolves host names of join addresses; tests replace it.
var lookupIPAddr = net.DefaultResolver.LookupIPAddr

// checkJoinAddr checks a join address as memberlist will read it
// ([name/]host[:port], IPv6 in brackets with a port) and, for a host name,
// that it resolves. It returns an error wrapping ErrBadAddress, or
// ErrNoAnswer when the name servers did not answer.
func checkJoinAddr(addr string) error {
	hostport := addr
	if i := strings.Index(hostport, "/"); i >= 0 {
		if i == 0 {
			return fmt.Errorf("%w %q: empty node name before the slash", ErrBadAddress, addr)
		}
		hostport = hostport[i+1:]
	}
	host := strings.Trim(hostport, "[]")
	if hasPort(hostport) {
		h, port, err := net.SplitHostPort(hostport)
		if err != nil {
			return fmt.Errorf("%w %q: %v", ErrBadAddress, addr, err)
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("%w %q: port %q is not a number from 1 to 65535", ErrBadAddress, addr, port)
		}
		host = h
	}
	if host == "" {
		return fmt.Errorf("%w %q: no host", ErrBadAddress, addr)
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	ips, err := lookupIPAddr(ctx, host)
	var dnsErr *net.DNSError
	switch {
	case err == nil && len(ips) == 0, errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fmt.Errorf("%w %q: host %q does not resolve", ErrBadAddress, addr, host)
	case errors.As(err, &dnsErr) && (dnsErr.IsTimeout || dnsErr.IsTemporary):
		return fmt.Errorf("%w: resolving %q: %v", ErrNoAnswer, addr, err)
	case err != nil:
		return fmt.Errorf("%w %q: %v", ErrBadAddress, addr, err)
	}
	return nil
}

// hasPort is memberlist's rule: a bracketed IPv6 address has a port after
// the bracket; otherwise a single colon means a port (a bare IPv6 address
// has several).
func hasPort(s string) bool {
	if strings.LastIndex(s, "[") == 0 {
		return strings.LastIndex(s, ":") > strings.LastIndex(s, "]")
	}
	return strings.Count(s, ":") == 1
}
