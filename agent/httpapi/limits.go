package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Limits on what clients may hold of the agent. Every client of the
// local API connects from the device itself, normally from 127.0.0.1, so
// the caps (set from http_max_conns_per_client and
// http_max_blocking_queries) bound what one local process, or a remote
// one where http_addr is opened to the network, can take.
const (
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request before the server closes it.
	IdleTimeout = 30 * time.Second
	// blockingRetryAfter is the Retry-After of a blocking query refused
	// for want of a slot.
	blockingRetryAfter = 5 * time.Second
	// refusalLogEvery is the least time between two log lines about
	// refused connections or requests; counters keep the exact numbers.
	refusalLogEvery = time.Minute
)

// slots counts blocking queries in flight against a cap.
type slots struct {
	max     int64 // 0: no cap
	used    atomic.Int64
	refused atomic.Uint64
}

// tryAcquire takes a slot if one is free.
func (s *slots) tryAcquire() bool {
	for {
		n := s.used.Load()
		if s.max > 0 && n >= s.max {
			return false
		}
		if s.used.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (s *slots) release() { s.used.Add(-1) }

// blockingSlot takes a blocking query's slot, and reports whether the
// query may go on. When every slot is taken, a query whose index has
// already passed may still go on without one: it answers at once. free
// gives the slot back; it is a no-op when no slot was taken.
func (a *API) blockingSlot(ctx context.Context, key string, prefix bool, index uint64) (free func(), ok bool) {
	if a.blocking.tryAcquire() {
		return a.blocking.release, true
	}
	// WaitIndex with an ended context only reads the index.
	done, cancel := context.WithCancel(ctx)
	cancel()
	if idx, err := a.store.WaitIndex(done, key, prefix, index); err != nil || idx > index {
		return func() {}, true // the read that follows answers (or fails) at once
	}
	a.blocking.refused.Add(1)
	a.limitLog.log(a.log, "http api refused blocking queries past http_max_blocking_queries",
		"max", a.blocking.max, "refused", a.blocking.refused.Load())
	return nil, false
}

// tooManyBlocking answers a blocking query refused for want of a slot.
// The connection is closed after the answer, so that refused clients do
// not hold connections either.
func (a *API) tooManyBlocking(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(blockingRetryAfter/time.Second)))
	w.Header().Set("Connection", "close")
	http.Error(w, fmt.Sprintf("Too Many Requests: %d blocking queries in flight, the most this agent serves "+
		"(http_max_blocking_queries); retry later", a.blocking.max), http.StatusTooManyRequests)
}

// ConnLimiter caps the connections one client IP address holds to the
// API at once, as Consul's http_max_conns_per_client does: Listener
// closes a connection past the cap as soon as it is accepted, and counts
// it. Create it with NewConnLimiter; it is safe for concurrent use.
type ConnLimiter struct {
	max     int // 0: no cap
	log     *slog.Logger
	refused atomic.Uint64
	warn    rateLimitedLog

	mu   sync.Mutex
	open map[netip.Addr]int
}

// NewConnLimiter returns a limiter of max connections per client IP
// address; 0 sets no cap. Refusals are logged to log, at most once a
// minute.
func NewConnLimiter(max int, log *slog.Logger) *ConnLimiter {
	if log == nil {
		log = slog.Default()
	}
	return &ConnLimiter{max: max, log: log, open: map[netip.Addr]int{}}
}

// Listener returns ln with the limiter applied to what it accepts.
func (l *ConnLimiter) Listener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, l: l}
}

// Refused returns how many connections were closed at accept.
func (l *ConnLimiter) Refused() uint64 { return l.refused.Load() }

// Max returns the cap; 0 is none.
func (l *ConnLimiter) Max() int { return l.max }

// take counts a new connection from ip, or reports that ip holds the most
// it may.
func (l *ConnLimiter) take(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.open[ip] >= l.max {
		return false
	}
	l.open[ip]++
	return true
}

func (l *ConnLimiter) put(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

// limitListener is a listener whose Accept skips the connections its
// limiter refuses.
type limitListener struct {
	net.Listener
	l *ConnLimiter
}

func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if ll.l.take(ip) {
			return &limitedConn{Conn: c, put: func() { ll.l.put(ip) }}, nil
		}
		c.Close()
		n := ll.l.refused.Add(1)
		ll.l.warn.log(ll.l.log, "http api refused connections past http_max_conns_per_client",
			"client", ip.String(), "max", ll.l.max, "refused", n)
	}
}

// remoteIP is the client address a connection counts against; every
// connection not over IP counts against the zero address.
func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// limitedConn gives its place back to the limiter when first closed.
type limitedConn struct {
	net.Conn
	once sync.Once
	put  func()
}

func (c *limitedConn) Close() error {
	c.once.Do(c.put)
	return c.Conn.Close()
}

// rateLimitedLog writes a warning at most once per refusalLogEvery.
type rateLimitedLog struct {
	last atomic.Int64 // unix nanoseconds of the last line
}

func (r *rateLimitedLog) log(log *slog.Logger, msg string, args ...any) {
	now := time.Now().UnixNano()
	last := r.last.Load()
	if last != 0 && now-last < int64(refusalLogEvery) {
		return
	}
	if r.last.CompareAndSwap(last, now) {
		log.Warn(msg, args...)
	}
}

// Stats reports the API's limits and what they refused, for the agent to
// show in /v1/agent/self (and so in `edgeplane info`).
func (a *API) Stats() map[string]string {
	s := map[string]string{
		"max_blocking_queries": strconv.FormatInt(a.blocking.max, 10),
		"blocking_queries":     strconv.FormatInt(a.blocking.used.Load(), 10),
		"refused_blocking":     strconv.FormatUint(a.blocking.refused.Load(), 10),
		"refused_host":         strconv.FormatUint(a.guard.refusedHost.Load(), 10),
		"refused_cross_site":   strconv.FormatUint(a.guard.refusedCrossSite.Load(), 10),
		"idle_timeout":         IdleTimeout.String(),
	}
	if a.conns != nil {
		s["max_conns_per_client"] = strconv.Itoa(a.conns.Max())
		s["refused_conns"] = strconv.FormatUint(a.conns.Refused(), 10)
	}
	return s
}
