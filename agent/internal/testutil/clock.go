package testutil

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// FakeClock is a clock that moves only when Advance is called: it has the
// methods of catalog.Clock, so the catalog's tests and the agent's drive
// check runs, TTLs and anti-entropy by hand.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]bool
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

// NewFakeClock returns a FakeClock reading start.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start, timers: map[*fakeTimer]bool{}}
}

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// At returns a channel that receives once the clock reads deadline (at
// once if it does already), and a function that stops the timer.
func (c *FakeClock) At(deadline time.Time) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: deadline, ch: make(chan time.Time, 1)}
	if !deadline.After(c.now) {
		t.ch <- c.now
		return t.ch, func() {}
	}
	c.timers[t] = true
	return t.ch, func() {
		c.mu.Lock()
		delete(c.timers, t)
		c.mu.Unlock()
	}
}

// Advance moves the clock by d and fires the timers it passes.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
			delete(c.timers, t)
		}
	}
}

// Pending returns the deadlines the clock's pending timers wait for.
func (c *FakeClock) Pending() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for t := range c.timers {
		out = append(out, t.at)
	}
	return out
}

// WaitTimer waits until a timer waits for deadline.
func (c *FakeClock) WaitTimer(t testing.TB, deadline time.Time) {
	t.Helper()
	Eventually(t, 10*time.Second, func() error {
		if slices.ContainsFunc(c.Pending(), deadline.Equal) {
			return nil
		}
		return fmt.Errorf("no timer for %v: %v", deadline, c.Pending())
	})
}
