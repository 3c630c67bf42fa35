package resilience

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Defaults of a Policy's fields.
const (
	DefaultTimeout          = 5 * time.Second
	DefaultAttempts         = 3
	DefaultBackoffBase      = 50 * time.Millisecond
	DefaultBackoffCap       = 2 * time.Second
	DefaultFailureThreshold = 5
	DefaultCoolDown         = 10 * time.Second
	DefaultBalancer         = RoundRobin
	// MaxAttempts bounds Retry.Attempts, so a typo cannot multiply load.
	MaxAttempts = 10
)

// Policy is how calls to one target (a set of interchangeable peers) are
// made. It mirrors what operators write in config:
//
//	timeout: 2s
//	retry: {attempts: 3, backoff_base: 50ms, backoff_cap: 2s}
//	circuit_breaker: {failure_threshold: 5, cool_down: 10s}
//	balancer: least_outstanding
//
// A zero field means its default (see WithDefaults).
type Policy struct {
	// Timeout bounds each attempt, dial included. The caller's context
	// bounds the whole call, retries and pauses included. Default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// Retry says how often and how patiently to retry; see Retry.
	Retry Retry `yaml:"retry"`
	// CircuitBreaker configures the breaker kept for each peer.
	CircuitBreaker BreakerConfig `yaml:"circuit_breaker"`
	// Balancer picks the peer of each attempt. Default round_robin.
	Balancer BalancerKind `yaml:"balancer"`
}

// DefaultPolicy returns the policy with every field at its default.
func DefaultPolicy() Policy { return Policy{}.WithDefaults() }

// WithDefaults returns p with each zero field set to its default.
func (p Policy) WithDefaults() Policy {
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.Retry.Attempts == 0 {
		p.Retry.Attempts = DefaultAttempts
	}
	if p.Retry.BackoffBase == 0 {
		p.Retry.BackoffBase = DefaultBackoffBase
	}
	if p.Retry.BackoffCap == 0 {
		p.Retry.BackoffCap = max(DefaultBackoffCap, p.Retry.BackoffBase)
	}
	if p.CircuitBreaker.FailureThreshold == 0 {
		p.CircuitBreaker.FailureThreshold = DefaultFailureThreshold
	}
	if p.CircuitBreaker.CoolDown == 0 {
		p.CircuitBreaker.CoolDown = DefaultCoolDown
	}
	if p.Balancer == "" {
		p.Balancer = DefaultBalancer
	}
	return p
}

// FieldError is a configuration error; Field is the setting's path as
// written in config, e.g. "retry.backoff_cap".
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Validate checks p as written (zero fields are allowed and mean their
// defaults) and returns every problem found, each a *FieldError.
func (p Policy) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if p.Timeout < 0 {
		bad("timeout", "must not be negative, got %s", p.Timeout)
	}
	if p.Retry.Attempts < 0 || p.Retry.Attempts > MaxAttempts {
		bad("retry.attempts", "must be between 1 and %d, got %d", MaxAttempts, p.Retry.Attempts)
	}
	if p.Retry.BackoffBase < 0 {
		bad("retry.backoff_base", "must not be negative, got %s", p.Retry.BackoffBase)
	}
	if p.Retry.BackoffCap < 0 {
		bad("retry.backoff_cap", "must not be negative, got %s", p.Retry.BackoffCap)
	}
	if p.Retry.BackoffCap > 0 && p.Retry.BackoffCap < p.Retry.BackoffBase {
		bad("retry.backoff_cap", "must be at least retry.backoff_base (%s), got %s", p.Retry.BackoffBase, p.Retry.BackoffCap)
	}
	if p.CircuitBreaker.FailureThreshold < 0 {
		bad("circuit_breaker.failure_threshold", "must be at least 1, got %d", p.CircuitBreaker.FailureThreshold)
	}
	if p.CircuitBreaker.CoolDown < 0 {
		bad("circuit_breaker.cool_down", "must not be negative, got %s", p.CircuitBreaker.CoolDown)
	}
	if p.Balancer != "" && !slices.Contains(BalancerKinds, p.Balancer) {
		bad("balancer", "unknown balancer %q (want one of %v)", p.Balancer, BalancerKinds)
	}
	return errors.Join(errs...)
}
