package sdnotify

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/sdnotify/sdnotifytest"
)

// fakeTicker is ticked by hand. Its channel is unbuffered, so a send
// returns only once the watchdog has taken the tick, and the next send only
// once it has finished handling the previous one.
type fakeTicker struct {
	c       chan time.Time
	mu      sync.Mutex
	periods []time.Duration
	stopped bool
}

func (f *fakeTicker) new(d time.Duration) (<-chan time.Time, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.periods = append(f.periods, d)
	return f.c, func() { f.mu.Lock(); f.stopped = true; f.mu.Unlock() }
}

func (f *fakeTicker) tick(t *testing.T) {
	t.Helper()
	select {
	case f.c <- time.Now():
	case <-time.After(wait):
		t.Fatal("the watchdog did not take a tick")
	}
}

// checkSwitch is a health check a test turns from passing to failing to
// hanging. Each call is reported on calls.
type checkSwitch struct {
	mu    sync.Mutex
	err   error
	hang  chan struct{} // not nil: calls block until it closes or ctx ends
	calls chan struct{}
}

func (c *checkSwitch) check(ctx context.Context) error {
	c.mu.Lock()
	err, hang := c.err, c.hang
	c.mu.Unlock()
	c.calls <- struct{}{}
	if hang != nil {
		select {
		case <-hang:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func (c *checkSwitch) set(err error, hang chan struct{}) {
	c.mu.Lock()
	c.err, c.hang = err, hang
	c.mu.Unlock()
}

type watchdogRig struct {
	sock   *sdnotifytest.Socket
	ticker *fakeTicker
	check  *checkSwitch
	judged chan error // every outcome the watchdog judged
	cancel context.CancelFunc
	done   chan struct{}
}

func startWatchdog(t *testing.T, interval time.Duration) *watchdogRig {
	r := &watchdogRig{
		sock:   sdnotifytest.Listen(t),
		ticker: &fakeTicker{c: make(chan time.Time)},
		check:  &checkSwitch{calls: make(chan struct{}, 100)},
		judged: make(chan error, 100),
		done:   make(chan struct{}),
	}
	w := &Watchdog{
		Notifier:  New(r.sock.Path),
		Interval:  interval,
		Check:     r.check.check,
		Log:       slog.New(slog.DiscardHandler),
		NewTicker: r.ticker.new,
		observe:   func(err error) { r.judged <- err },
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { defer close(r.done); w.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *watchdogRig) stop() {
	r.cancel()
	<-r.done
}

// pingAfterTick ticks and expects exactly one ping for it.
func (r *watchdogRig) pingAfterTick(t *testing.T) {
	t.Helper()
	r.ticker.tick(t)
	if got := r.sock.Next(wait); got != "WATCHDOG=1\n" {
		t.Fatalf("after a passing check got %q, want a ping", got)
	}
}

func TestWatchdogPingsAtHalfTheInterval(t *testing.T) {
	r := startWatchdog(t, 30*time.Second)
	r.pingAfterTick(t)
	r.pingAfterTick(t)
	r.pingAfterTick(t)
	r.stop()
	r.ticker.mu.Lock()
	defer r.ticker.mu.Unlock()
	if !slices.Equal(r.ticker.periods, []time.Duration{15 * time.Second}) || !r.ticker.stopped {
		t.Fatalf("ticker periods %v (stopped %t), want one ticker of 15s, stopped", r.ticker.periods, r.ticker.stopped)
	}
}

func TestWatchdogStopsPingingWhileCheckFails(t *testing.T) {
	r := startWatchdog(t, time.Hour)
	r.pingAfterTick(t)

	r.check.set(errors.New("store read: wedged"), nil)
	r.ticker.tick(t)
	unhealthy := r.sock.Next(wait)
	if v, _ := sdnotifytest.Value(unhealthy, "STATUS"); v != "unhealthy, watchdog pings suspended: store read: wedged" {
		t.Fatalf("after a failing check got %q", unhealthy)
	}
	<-r.judged
	<-r.judged
	for range 5 {
		r.ticker.tick(t) // each one runs a failing check and sends nothing
		if err := <-r.judged; err == nil {
			t.Fatal("a failing check was judged healthy")
		}
	}

	r.check.set(nil, nil)
	r.ticker.tick(t)
	// Datagrams from one sender arrive in order: had any tick while the
	// check failed pinged, that ping would come before this status.
	if got := r.sock.Next(wait); !sdnotifytest.Has(got, "STATUS=healthy, watchdog pings resumed") {
		t.Fatalf("after recovery got %q, want the healthy status first", got)
	}
	if got := r.sock.Next(wait); got != "WATCHDOG=1\n" {
		t.Fatalf("after recovery got %q, want a ping", got)
	}
	if n := len(r.check.calls); n != 8 {
		t.Fatalf("%d checks ran, want one per tick (8)", n)
	}
}

func TestWatchdogStopsPingingWhileCheckHangs(t *testing.T) {
	r := startWatchdog(t, 2*time.Hour) // checks time out after an hour: never, here
	r.pingAfterTick(t)
	<-r.check.calls

	hang := make(chan struct{})
	r.check.set(nil, hang)
	r.ticker.tick(t) // starts a check that does not answer
	<-r.check.calls
	r.ticker.tick(t) // its deadline: unhealthy
	if got := r.sock.Next(wait); !sdnotifytest.Has(got, "STATUS=unhealthy, watchdog pings suspended: health check has not answered within 1h0m0s") {
		t.Fatalf("with a hung check got %q", got)
	}
	for range 4 {
		r.ticker.tick(t) // waits on the hung check again, without a new one
	}
	if n := len(r.check.calls); n != 0 {
		t.Fatalf("%d checks started while one hung, want none", n)
	}

	close(hang) // the check answers, passing
	r.ticker.tick(t)
	if got := r.sock.Next(wait); !sdnotifytest.Has(got, "STATUS=healthy, watchdog pings resumed") {
		t.Fatalf("after the check answered got %q, want the healthy status first", got)
	}
	if got := r.sock.Next(wait); got != "WATCHDOG=1\n" {
		t.Fatalf("got %q, want a ping", got)
	}
}

func TestWatchdogRunWaitsForItsCheck(t *testing.T) {
	r := startWatchdog(t, 2*time.Hour)
	r.check.set(nil, make(chan struct{})) // hangs until its context ends
	r.ticker.tick(t)
	<-r.check.calls
	r.stop() // cancels the check and returns only after it has
}

func TestWatchdogOffWithoutInterval(t *testing.T) {
	w := &Watchdog{Notifier: New(""), Check: func(context.Context) error { return nil }}
	w.Run(context.Background()) // returns at once
}
