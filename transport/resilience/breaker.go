package resilience

import "time"

// State is a circuit breaker's state.
type State uint8

// The breaker states, see the package documentation.
const (
	Closed State = iota
	Open
	HalfOpen
)

// String returns "closed", "open" or "half-open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "unknown"
}

// Outcome is what a call tells its peer's breaker.
type Outcome uint8

// The outcomes a breaker learns from.
const (
	// Success: the peer answered (any answer that is not the peer's
	// fault counts, an application error included).
	Success Outcome = iota
	// Failure: the peer was unreachable, unavailable or too slow.
	Failure
	// Ignored: the call says nothing about the peer (the caller gave up
	// first). It frees a half-open probe slot and changes nothing else.
	Ignored
)

// BreakerConfig mirrors the `circuit_breaker` block of a target's policy.
type BreakerConfig struct {
	// FailureThreshold is the number of consecutive failures that opens
	// the breaker. Zero means the default, 5.
	FailureThreshold int `yaml:"failure_threshold"`
	// CoolDown is how long an open breaker rejects calls before it lets a
	// probe through. Zero means the default, 10s.
	CoolDown time.Duration `yaml:"cool_down"`
}

// Breaker is a circuit breaker for one peer. Time is passed in, so the
// breaker is a plain state machine; it is not safe for concurrent use.
type Breaker struct {
	cfg      BreakerConfig
	state    State
	failures int
	openedAt time.Time
	probing  bool
}

// NewBreaker returns a closed breaker. Zero fields of cfg take their
// defaults.
func NewBreaker(cfg BreakerConfig) *Breaker {
	if cfg.FailureThreshold <= 0 {
		cfg.FailureThreshold = DefaultFailureThreshold
	}
	if cfg.CoolDown <= 0 {
		cfg.CoolDown = DefaultCoolDown
	}
	return &Breaker{cfg: cfg}
}

// State reports the state at now: an open breaker whose cool-down has
// elapsed reads half-open.
func (b *Breaker) State(now time.Time) State {
	if b.state == Open && !now.Before(b.openedAt.Add(b.cfg.CoolDown)) {
		return HalfOpen
	}
	return b.state
}

// Ready reports whether Allow would let a call through at now, without
// taking the half-open probe slot.
func (b *Breaker) Ready(now time.Time) bool {
	switch b.State(now) {
	case Closed:
		return true
	case HalfOpen:
		return !b.probing
	}
	return false
}

// Allow reports whether a call may go to the peer at now. In half-open it
// admits exactly one call, the probe, until that call's outcome is
// recorded.
func (b *Breaker) Allow(now time.Time) bool {
	switch b.State(now) {
	case Closed:
		return true
	case HalfOpen:
		b.state = HalfOpen
		if b.probing {
			return false
		}
		b.probing = true
		return true
	}
	return false
}

// Record feeds the outcome of a call that finished at now.
func (b *Breaker) Record(now time.Time, o Outcome) {
	state := b.State(now)
	if state == HalfOpen {
		b.state = HalfOpen
	}
	switch o {
	case Ignored:
		if state == HalfOpen {
			b.probing = false
		}
	case Success:
		switch state {
		case Closed:
			b.failures = 0
		case HalfOpen:
			b.state, b.failures, b.probing = Closed, 0, false
		}
	case Failure:
		switch state {
		case Closed:
			b.failures++
			if b.failures >= b.cfg.FailureThreshold {
				b.trip(now)
			}
		case HalfOpen:
			b.trip(now)
		}
	}
}

func (b *Breaker) trip(now time.Time) {
	b.state, b.openedAt, b.probing, b.failures = Open, now, false, 0
}
