package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Stamp is a hybrid logical clock reading: the upper 48 bits are wall-clock
// milliseconds since the Unix epoch, the lower 16 bits a logical counter that
// orders events within one millisecond. Stamps compare as plain integers.
type Stamp uint64

const counterBits = 16

// MakeStamp builds a stamp from wall milliseconds and a counter.
func MakeStamp(ms uint64, counter uint16) Stamp {
	return Stamp(ms<<counterBits | uint64(counter))
}

// Millis returns the wall-clock part in milliseconds since the Unix epoch.
func (s Stamp) Millis() uint64 { return uint64(s) >> counterBits }

// Counter returns the logical part.
func (s Stamp) Counter() uint16 { return uint16(s) }

// Time returns the wall-clock part as a time.
func (s Stamp) Time() time.Time { return time.UnixMilli(int64(s.Millis())).UTC() }

// String formats the stamp as RFC 3339 milliseconds plus the counter.
func (s Stamp) String() string {
	return fmt.Sprintf("%s+%d", s.Time().Format("2006-01-02T15:04:05.000Z"), s.Counter())
}

// Clock is a hybrid logical clock. Its readings never go backwards, never
// read earlier than its floor (the binary's build time), and stay strictly
// increasing however often they are taken within one millisecond: when the
// counter overflows, the reading borrows the next millisecond.
//
// The zero value is not usable; use NewClock.
type Clock struct {
	wall   func() time.Time
	floor  Stamp
	offset atomic.Int64 // added to the wall clock, in nanoseconds

	mu   sync.Mutex
	last Stamp
}

// NewClock returns a clock reading wall (time.Now when nil) that never reads
// earlier than floor nor earlier than resume, the high-water mark a previous
// run persisted.
func NewClock(wall func() time.Time, floor time.Time, resume Stamp) *Clock {
	if wall == nil {
		wall = time.Now
	}
	c := &Clock{wall: wall, floor: physical(floor)}
	c.last = max(resume, c.floor)
	return c
}

func physical(t time.Time) Stamp {
	ms := t.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	return MakeStamp(uint64(ms), 0)
}

// Now returns a new stamp, strictly greater than every stamp the clock has
// returned or observed.
func (c *Clock) Now() Stamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nextLocked()
}

// NowAfter returns a new stamp strictly greater than both the clock's last
// reading and s. The store uses it so that a local write always supersedes
// the record it replaces.
func (c *Clock) NowAfter(s Stamp) Stamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = max(c.last, s)
	return c.nextLocked()
}

func (c *Clock) nextLocked() Stamp {
	pt := max(physical(c.wall().Add(time.Duration(c.offset.Load()))), c.floor)
	if pt > c.last {
		c.last = pt
	} else {
		c.last++ // a counter overflow carries into the millisecond field
	}
	return c.last
}

// SetWallOffset makes the clock read the wall clock plus d: replication
// sets it when this node's wall clock is far ahead of its peers', so that
// it stamps from their time instead. Readings still never go backwards.
func (c *Clock) SetWallOffset(d time.Duration) { c.offset.Store(int64(d)) }

// WallOffset returns the offset SetWallOffset set.
func (c *Clock) WallOffset() time.Duration { return time.Duration(c.offset.Load()) }

// Observe advances the clock to at least s, so that later readings order
// after it. Callers bound how far ahead of the wall clock they let a
// remote stamp pull the clock (see Wall).
func (c *Clock) Observe(s Stamp) {
	c.mu.Lock()
	c.last = max(c.last, s)
	c.mu.Unlock()
}

// Wall returns the wall clock, shifted by SetWallOffset and never before
// the floor, as a stamp: what a remote stamp's distance ahead is measured
// from. Unlike Reading it leaves out the stamps the clock has issued or
// observed, so stamps that each arrive a little ahead of the last cannot
// walk the bound forward: the clock never runs further past the wall
// clock than its callers let one stamp be.
func (c *Clock) Wall() Stamp {
	return max(physical(c.wall().Add(time.Duration(c.offset.Load()))), c.floor)
}

// Peek returns the last stamp issued or observed without advancing the
// clock: the high-water mark that is persisted with every write.
func (c *Clock) Peek() Stamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}
