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
// the caps (set from http_max_conns_per_client, http_max_conns and
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
	// woken counts blocking queries answered because their index passed
	// (not because their wait ran out, their client left or the API
	// closed): what a change woke.
	woken atomic.Uint64
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
func (a *API) blockingSlot(ctx context.Context, wait waitFunc, index uint64) (free func(), ok bool) {
	if a.blocking.tryAcquire() {
		return a.blocking.release, true
	}
	if indexPassed(ctx, wait, index) {
		return func() {}, true // the read that follows answers (or fails) at once
	}
	a.blocking.refused.Add(1)
	a.limitLog.log(a.log, "http api refused blocking queries past http_max_blocking_queries",
		"max", a.blocking.max, "refused", a.blocking.refused.Load())
	return nil, false
}

// waitFunc waits, as store.WaitIndex does, until the index of what a
// blocking query reads passes index, or ctx ends, and returns the index
// then; with an ended ctx it only reads the index.
type waitFunc func(ctx context.Context, index uint64) (uint64, error)

// indexPassed reports whether the index wait reads is already past index,
// or cannot be read: a blocking query that answers at once.
func indexPassed(ctx context.Context, wait waitFunc, index uint64) bool {
	done, cancel := context.WithCancel(ctx)
	cancel()
	idx, err := wait(done, index)
	return err != nil || idx > index
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

// ConnLimiter caps the connections clients hold to the API at once: those
// of one client IP address, as Consul's http_max_conns_per_client does,
// and those of all other clients together, which bounds the memory
// connections hold (about 20 KiB each, idle or not) even for a process
// that connects from many loopback addresses. The everyday local
// addresses, 127.0.0.1 and ::1, count against their own per-client cap
// only, so that connections from elsewhere cannot crowd out the local
// clients. Listener closes a connection past a cap as soon as it is
// accepted, and counts it. Create it with NewConnLimiter; it is safe for
// concurrent use.
type ConnLimiter struct {
	perClient int // 0: no cap
	total     int // 0: no cap
	log       *slog.Logger
	refused   atomic.Uint64
	warn      rateLimitedLog

	mu     sync.Mutex
	open   map[netip.Addr]int
	sum    int // connections open
	others int // connections open from other than the everyday local addresses
}

// NewConnLimiter returns a limiter of perClient connections per client IP
// address and total connections from all but 127.0.0.1 and ::1; 0 sets no
// cap. Refusals are
// logged to log, at most once a minute.
func NewConnLimiter(perClient, total int, log *slog.Logger) *ConnLimiter {
	if log == nil {
		log = slog.Default()
	}
	return &ConnLimiter{perClient: perClient, total: total, log: log, open: map[netip.Addr]int{}}
}

// Listener returns ln with the limiter applied to what it accepts.
func (l *ConnLimiter) Listener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, l: l}
}

// Refused returns how many connections were closed at accept.
func (l *ConnLimiter) Refused() uint64 { return l.refused.Load() }

// take counts a new connection from ip, or returns which cap it would
// pass.
func (l *ConnLimiter) take(ip netip.Addr) (over string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perClient > 0 && l.open[ip] >= l.perClient {
		return "http_max_conns_per_client"
	}
	counted := !everydayLocal(ip)
	if counted && l.total > 0 && l.others >= l.total {
		return "http_max_conns"
	}
	l.open[ip]++
	l.sum++
	if counted {
		l.others++
	}
	return ""
}

func (l *ConnLimiter) put(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sum--
	if !everydayLocal(ip) {
		l.others--
	}
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

// everydayLocal reports whether ip is an address local clients connect
// from unless told otherwise.
func everydayLocal(ip netip.Addr) bool {
	return ip == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || ip == netip.IPv6Loopback()
}

// openConns returns the connections open.
func (l *ConnLimiter) openConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sum
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
		over := ll.l.take(ip)
		if over == "" {
			return &limitedConn{Conn: c, put: func() { ll.l.put(ip) }}, nil
		}
		n := ll.l.refused.Add(1) // before the client can see the close
		c.Close()
		ll.l.warn.log(ll.l.log, "http api refused connections past "+over,
			"client", ip.String(), "max_conns_per_client", ll.l.perClient, "max_conns", ll.l.total, "refused", n)
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

// Limits are the API's caps, what it holds against them and what they
// refused, since New.
type Limits struct {
	MaxBlockingQueries int64  // http_max_blocking_queries; 0: no cap
	BlockingQueries    int64  // in flight
	RefusedBlocking    uint64 // blocking queries answered 429
	BlockingWoken      uint64 // blocking queries a change answered
	RefusedHost        uint64 // requests refused for their Host (guard.go)
	RefusedCrossSite   uint64 // cross-site requests that may change state, refused
	// The connection caps, connections open and those closed at accept;
	// all zero without Config.Conns.
	MaxConnsPerClient, MaxConns int
	Conns                       int
	RefusedConns                uint64
}

// Limits reports the API's limits and what they refused.
func (a *API) Limits() Limits {
	l := Limits{
		MaxBlockingQueries: a.blocking.max,
		BlockingQueries:    a.blocking.used.Load(),
		RefusedBlocking:    a.blocking.refused.Load(),
		BlockingWoken:      a.blocking.woken.Load(),
		RefusedHost:        a.guard.refusedHost.Load(),
		RefusedCrossSite:   a.guard.refusedCrossSite.Load(),
	}
	if c := a.conns; c != nil {
		l.MaxConnsPerClient, l.MaxConns, l.Conns, l.RefusedConns = c.perClient, c.total, c.openConns(), c.refused.Load()
	}
	return l
}

// Stats reports the API's limits and what they refused, for the agent to
// show in /v1/agent/self (and so in `edgeplane info`).
func (a *API) Stats() map[string]string {
	l := a.Limits()
	s := map[string]string{
		"max_blocking_queries": strconv.FormatInt(l.MaxBlockingQueries, 10),
		"blocking_queries":     strconv.FormatInt(l.BlockingQueries, 10),
		"refused_blocking":     strconv.FormatUint(l.RefusedBlocking, 10),
		"blocking_woken":       strconv.FormatUint(l.BlockingWoken, 10),
		"refused_host":         strconv.FormatUint(l.RefusedHost, 10),
		"refused_cross_site":   strconv.FormatUint(l.RefusedCrossSite, 10),
		"idle_timeout":         IdleTimeout.String(),
	}
	if a.conns != nil {
		s["max_conns_per_client"] = strconv.Itoa(l.MaxConnsPerClient)
		s["max_conns"] = strconv.Itoa(l.MaxConns)
		s["conns"] = strconv.Itoa(l.Conns)
		s["refused_conns"] = strconv.FormatUint(l.RefusedConns, 10)
	}
	return s
}
