package replica

import (
	"slices"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

// skewSamples is how many recent peer clock readings the median is taken
// over.
const skewSamples = 31

// clockSkew keeps the offsets between peers' clock readings and this
// node's wall clock.
type clockSkew struct {
	mu      sync.Mutex
	offsets []time.Duration // ring of the last skewSamples
	next    int
	warned  bool
}

// ObservePeerClock takes a peer's hybrid logical clock reading from an RPC
// header or reply. A reading within MaxClockDrift of this node's wall clock
// advances it, so later local writes order after the peer's. And when this
// node's wall clock is more than MaxClockDrift off the median of its
// peers' recent readings (ahead, or behind, as after a boot at 1970), the
// clock reads the wall clock shifted to that median instead, and says so
// once: otherwise every peer would reject its writes, or it would reject
// theirs. When the wall clock is back in line the shift is dropped. A
// minority of peers with wrong clocks cannot move the median.
func (r *Replica) ObservePeerClock(reading uint64) {
	if reading == 0 {
		return
	}
	defer func() {
		clock := r.cfg.Store.Clock()
		if store.Stamp(reading).Millis() <= clock.Wall().Millis()+uint64(r.cfg.MaxClockDrift.Milliseconds()) {
			clock.Observe(store.Stamp(reading))
		}
	}()
	off := store.Stamp(reading).Time().Sub(r.cfg.Clock.Now())
	s := &r.skew
	s.mu.Lock()
	if len(s.offsets) < skewSamples {
		s.offsets = append(s.offsets, off)
	} else {
		s.offsets[s.next] = off
		s.next = (s.next + 1) % skewSamples
	}
	n := len(s.offsets)
	sorted := slices.Clone(s.offsets)
	s.mu.Unlock()
	if n < 3 {
		return
	}
	slices.Sort(sorted)
	median := sorted[n/2]
	clock := r.cfg.Store.Clock()
	drift := r.cfg.MaxClockDrift
	switch {
	case median < -drift || median > drift:
		clock.SetWallOffset(median)
		s.mu.Lock()
		warn := !s.warned
		s.warned = true
		s.mu.Unlock()
		if warn {
			r.cfg.Log.Warn("this node's wall clock is far off its peers'; stamping writes from their median clock",
				"offset", median.Round(time.Second), "max_clock_drift", drift)
		}
	case median > -drift/2 && median < drift/2 && clock.WallOffset() != 0:
		clock.SetWallOffset(0)
		r.cfg.Log.Info("this node's wall clock is back in line with its peers'")
	}
}

// ClockOffset returns the median of the offsets of the peers' recent
// clock readings (the last skewSamples, from RPC calls both ways) from
// this node's wall clock, positive when the peers' clocks are ahead, and
// how many readings it is taken over; 0, 0 before any. It is what
// ObservePeerClock compares with MaxClockDrift.
func (r *Replica) ClockOffset() (median time.Duration, readings int) {
	s := &r.skew
	s.mu.Lock()
	sorted := slices.Clone(s.offsets)
	s.mu.Unlock()
	if len(sorted) == 0 {
		return 0, 0
	}
	slices.Sort(sorted)
	return sorted[len(sorted)/2], len(sorted)
}

// MaxClockDrift returns the configured max_clock_drift.
func (r *Replica) MaxClockDrift() time.Duration { return r.cfg.MaxClockDrift }
