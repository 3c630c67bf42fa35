package faultnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config says which faults to inject. The zero Config injects none.
type Config struct {
	// Seed seeds the generator that decides each datagram's fate.
	Seed uint64
	// Loss is the probability, in [0, 1], that a datagram is dropped.
	Loss float64
	// Delay is added to every datagram that is not dropped.
	Delay time.Duration
	// Jitter adds a further uniform random delay in [0, Jitter).
	Jitter time.Duration
	// Reorder is the probability that a datagram is held back by
	// ReorderDelay, so that datagrams sent after it arrive first.
	Reorder float64
	// ReorderDelay is how long a reordered datagram is held. Default 5ms.
	ReorderDelay time.Duration
}

// Validate reports settings out of range, naming the field.
func (c Config) Validate() error {
	switch {
	case c.Loss < 0 || c.Loss > 1:
		return fmt.Errorf("faultnet: Loss must be in [0, 1], got %v", c.Loss)
	case c.Reorder < 0 || c.Reorder > 1:
		return fmt.Errorf("faultnet: Reorder must be in [0, 1], got %v", c.Reorder)
	case c.Delay < 0 || c.Jitter < 0 || c.ReorderDelay < 0:
		return fmt.Errorf("faultnet: Delay, Jitter and ReorderDelay must not be negative")
	}
	return nil
}

// Stats counts what happened to the datagrams sent.
type Stats struct {
	Sent, Dropped, Delayed, Reordered uint64
}

// PacketConn is a net.PacketConn that injects faults into what it sends.
type PacketConn struct {
	net.PacketConn
	cfg Config

	mu          sync.Mutex
	rng         *rand.Rand
	partitioned bool
	closed      bool
	pending     map[*time.Timer]struct{}

	sent, dropped, delayed, reordered atomic.Uint64
}

// Wrap returns pc with the faults of cfg. It panics on an invalid cfg,
// which is a bug in the test that wrote it.
func Wrap(pc net.PacketConn, cfg Config) *PacketConn {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if cfg.ReorderDelay == 0 {
		cfg.ReorderDelay = 5 * time.Millisecond
	}
	return &PacketConn{
		PacketConn: pc,
		cfg:        cfg,
		rng:        rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		pending:    make(map[*time.Timer]struct{}),
	}
}

// SetPartitioned cuts (true) or heals (false) the link: while cut, every
// datagram sent is dropped.
func (c *PacketConn) SetPartitioned(cut bool) {
	c.mu.Lock()
	c.partitioned = cut
	c.mu.Unlock()
}

// Stats returns the counts so far.
func (c *PacketConn) Stats() Stats {
	return Stats{Sent: c.sent.Load(), Dropped: c.dropped.Load(), Delayed: c.delayed.Load(), Reordered: c.reordered.Load()}
}

// WriteTo sends b to addr, subject to the configured faults. A dropped or
// delayed datagram reports success, as a datagram lost on the wire would.
func (c *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.sent.Add(1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	if c.partitioned || (c.cfg.Loss > 0 && c.rng.Float64() < c.cfg.Loss) {
		c.mu.Unlock()
		c.dropped.Add(1)
		return len(b), nil
	}
	delay := c.cfg.Delay
	if c.cfg.Jitter > 0 {
		delay += time.Duration(c.rng.Int64N(int64(c.cfg.Jitter)))
	}
	if c.cfg.Reorder > 0 && c.rng.Float64() < c.cfg.Reorder {
		delay += c.cfg.ReorderDelay
		c.reordered.Add(1)
	}
	if delay <= 0 {
		c.mu.Unlock()
		return c.PacketConn.WriteTo(b, addr)
	}
	c.delayed.Add(1)
	data := append([]byte(nil), b...) // the caller reuses b
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		c.mu.Lock()
		_, live := c.pending[t]
		delete(c.pending, t)
		closed := c.closed
		c.mu.Unlock()
		if live && !closed {
			c.PacketConn.WriteTo(data, addr)
		}
	})
	c.pending[t] = struct{}{}
	c.mu.Unlock()
	return len(b), nil
}

// Close stops pending deliveries and closes the wrapped connection.
func (c *PacketConn) Close() error {
	c.mu.Lock()
	c.closed = true
	for t := range c.pending {
		t.Stop()
	}
	clear(c.pending)
	c.mu.Unlock()
	return c.PacketConn.Close()
}
