package gossip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/edgeplane/edgeplane/transport/resilience"
)

// RetryJoin joins seeds in the background, retrying until one answers,
// maxAttempts attempts have failed (0: no limit), ctx ends or the mesh shuts
// down. The pause before retry n is backoff.Backoff(n, u), exponential with
// equal jitter (backoff.Attempts is not used: maxAttempts bounds the
// attempts), waited on the mesh's Clock. done, if not nil, receives the
// outcome. Joining never blocks the caller. Before Start, done gets
// ErrNotStarted at once.
func (m *Mesh) RetryJoin(ctx context.Context, seeds []string, maxAttempts int, backoff resilience.Retry, done func(joined int, err error)) {
	if len(seeds) == 0 {
		return
	}
	m.goIfRunning(func() {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(m.ctx, cancel) // Shutdown ends the retries
		defer stop()
		n, err := m.retryJoin(ctx, seeds, maxAttempts, backoff)
		if done != nil {
			done(n, err)
		}
	})
}

func (m *Mesh) retryJoin(ctx context.Context, seeds []string, maxAttempts int, backoff resilience.Retry) (int, error) {
	for attempt := 0; ; attempt++ {
		n, err := m.Join(seeds)
		if err == nil {
			m.log.Info("joined the mesh", "seeds", seeds, "answered", n)
			return n, nil
		}
		if errors.Is(err, ErrNotStarted) {
			return 0, err
		}
		if maxAttempts > 0 && attempt+1 >= maxAttempts {
			m.log.Error("giving up joining: every attempt failed; serving alone", "seeds", seeds, "attempts", attempt+1, "err", err)
			return 0, fmt.Errorf("gossip: join %v: %d attempts failed: %w", seeds, attempt+1, err)
		}
		wait := backoff.Backoff(attempt+1, rand.Float64())
		m.log.Warn("join failed, retrying", "seeds", seeds, "attempt", attempt+1, "retry_in", wait.Round(time.Millisecond), "err", err)
		if err := m.cfg.Clock.Sleep(ctx, wait); err != nil {
			return 0, err
		}
	}
}

// PickAdvertiseAddr chooses the address to announce when bound to an
// unspecified address (0.0.0.0): the single private IPv4 address among
// addrs. None or several is an error that asks for -advertise, as Consul
// does.
func PickAdvertiseAddr(addrs []net.Addr) (string, error) {
	var found []string
	for _, a := range addrs {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		}
		addr, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		addr = addr.Unmap()
		if addr.Is4() && addr.IsPrivate() {
			found = append(found, addr.String())
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no private IPv4 address found: set -advertise (advertise_addr) or -bind to the address peers should use")
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("multiple private IPv4 addresses found (%v): set -advertise (advertise_addr) or -bind to one of them", found)
}
