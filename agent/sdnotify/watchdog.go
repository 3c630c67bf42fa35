package sdnotify

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Watchdog sends WATCHDOG=1 every Period, each time only after Check has
// passed since the previous tick. Set the fields, then call Run.
type Watchdog struct {
	// Notifier receives the pings and status lines.
	Notifier *Notifier

	// Interval is the watchdog timeout systemd enforces (WatchdogSec, passed
	// as WATCHDOG_USEC). The watchdog pings at half of it.
	Interval time.Duration

	// Check reports whether the process is healthy. It is given Period to
	// answer; it must return when its context ends. One check runs at a
	// time: while a check has not returned, ticks pass without a ping.
	Check func(ctx context.Context) error

	// Log receives one line per change between healthy and unhealthy.
	Log *slog.Logger

	// NewTicker returns a channel that ticks every d and a function that
	// stops it. Nil means time.NewTicker; tests tick by hand.
	NewTicker func(d time.Duration) (<-chan time.Time, func())

	// observe, when set, sees the outcome of every tick that judged health.
	observe func(err error)
}

// Period is the time between pings: half of Interval, as sd_watchdog_enabled(3)
// advises, so that one late ping does not get the service killed.
func (w *Watchdog) Period() time.Duration { return w.Interval / 2 }

// Run pings until ctx ends. Each tick starts a check, which has until the
// next tick to answer; a passing answer is followed by a ping at once. When
// a check fails, or has not answered by the next tick, pings stop and the
// status line says why. A check that has not answered is waited for rather
// than started again, and pings resume with the first passing answer. Run
// returns after its last check has returned.
func (w *Watchdog) Run(ctx context.Context) {
	period := w.Period()
	if period <= 0 {
		return
	}
	newTicker := w.NewTicker
	if newTicker == nil {
		newTicker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	tick, stop := newTicker(period)
	defer stop()

	var running *check // a check that has not answered yet
	defer func() {
		if running != nil {
			running.cancel()
			<-running.result
		}
	}()
	healthy := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		if running == nil {
			running = w.start(ctx, period)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
			healthy = w.judge(healthy, fmt.Errorf("health check has not answered within %s", period))
		case err := <-running.result:
			running.cancel()
			running = nil
			healthy = w.judge(healthy, err)
			if healthy {
				if err := w.Notifier.Watchdog(); err != nil {
					w.Log.Warn("watchdog ping failed", "err", err)
				}
			}
		}
	}
}

// check is a health check in progress.
type check struct {
	result chan error // receives the check's answer
	cancel context.CancelFunc
}

// start runs Check in its own goroutine, giving it timeout to answer.
func (w *Watchdog) start(ctx context.Context, timeout time.Duration) *check {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	c := &check{result: make(chan error, 1), cancel: cancel}
	go func() { c.result <- w.Check(cctx) }()
	return c
}

// judge records the outcome of a check, logging and setting the status line
// when health changes, and returns whether the process is healthy.
func (w *Watchdog) judge(wasHealthy bool, err error) bool {
	if w.observe != nil {
		defer w.observe(err)
	}
	switch {
	case err != nil && wasHealthy:
		w.Log.Error("health check failed; watchdog pings suspended, systemd restarts the agent if it does not recover",
			"err", err, "watchdog", w.Interval)
		w.Notifier.Status("unhealthy, watchdog pings suspended: " + err.Error())
	case err == nil && !wasHealthy:
		w.Log.Info("health check passes again; watchdog pings resumed")
		w.Notifier.Status("healthy, watchdog pings resumed")
	}
	return err == nil
}
