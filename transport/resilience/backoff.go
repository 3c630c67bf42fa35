package resilience

import "time"

// Retry is how often and how patiently a call is retried. It mirrors the
// `retry` block of a target's policy in config.
type Retry struct {
	// Attempts is the number of attempts, the first included; 1 disables
	// retries. Zero means the default, 3.
	Attempts int `yaml:"attempts"`
	// BackoffBase is the first pause, before the second attempt. Each
	// further pause doubles it. Zero means the default, 50ms.
	BackoffBase time.Duration `yaml:"backoff_base"`
	// BackoffCap bounds every pause. Zero means the default, 2s.
	BackoffCap time.Duration `yaml:"backoff_cap"`
}

// Backoff returns the pause before retry n (n ≥ 1: the pause after the
// n-th failed attempt). The step is BackoffBase·2^(n-1), capped at
// BackoffCap; the pause is half the step plus u times the other half, where
// u is a uniform draw in [0, 1) ("equal jitter"). Values of u outside
// [0, 1) are clamped.
func (r Retry) Backoff(n int, u float64) time.Duration {
	if n < 1 {
		n = 1
	}
	base, limit := r.BackoffBase, r.BackoffCap
	if base <= 0 {
		return 0
	}
	if limit < base {
		limit = base
	}
	step := base
	for i := 1; i < n && step < limit; i++ {
		step *= 2
	}
	if step > limit || step <= 0 { // step <= 0: overflow
		step = limit
	}
	switch {
	case u < 0:
		u = 0
	case u >= 1:
		u = 1
	}
	half := step / 2
	return half + time.Duration(u*float64(step-half))
}
