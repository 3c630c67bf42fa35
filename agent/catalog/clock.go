package catalog

import "time"

// Clock is the catalog's time source: TTL deadlines and the pace of
// output writes. Tests use a fake one they step by hand.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// At returns a channel that receives once the clock reads deadline or
	// later (at once if it already does), and a function that stops the
	// timer.
	At(deadline time.Time) (<-chan time.Time, func())
}

// SystemClock reads the wall clock and waits on real timers.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// At waits on a time.Timer.
func (SystemClock) At(deadline time.Time) (<-chan time.Time, func()) {
	t := time.NewTimer(time.Until(deadline))
	return t.C, func() { t.Stop() }
}
