package proxy

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/edgeplane/edgeplane/transport/resilience"
)

// Locality says how far from the caller an instance may be.
type Locality string

// The localities.
const (
	// SiteFirst: instances on this node, then in this site, then in
	// other sites; a farther tier is used only when the nearer has no
	// candidate.
	SiteFirst Locality = "site_first"
	// SiteOnly: this node and this site; never another site.
	SiteOnly Locality = "site_only"
	// Any: every healthy instance, wherever it runs, is one tier.
	Any Locality = "any"
)

// Defaults of a Policy.
const (
	DefaultTimeout          = 3 * time.Second
	DefaultAttempts         = 2
	DefaultPerTryTimeout    = time.Second
	DefaultBackoffBase      = 25 * time.Millisecond
	DefaultBackoffCap       = 250 * time.Millisecond
	DefaultFailureThreshold = 5
	DefaultOpenFor          = 30 * time.Second
	DefaultBalancer         = resilience.LeastOutstanding
	DefaultLocality         = SiteFirst
	DefaultMaxConcurrent    = 256
)

// Policy is how one caller service calls one target service: the
// `communication:` block of the configuration, defaults filled in by
// WithDefaults.
type Policy struct {
	// Timeout bounds the whole call, retries and pauses included.
	Timeout time.Duration
	// Attempts counts every attempt, the first included (1: no retry).
	Attempts int
	// PerTryTimeout bounds one attempt.
	PerTryTimeout time.Duration
	// Backoff paces retries (its Attempts is unused).
	Backoff resilience.Retry
	// Breaker configures the breaker kept for each instance.
	Breaker resilience.BreakerConfig
	// Balancer picks among the candidates of the nearest tier.
	Balancer resilience.BalancerKind
	// Locality orders the candidates' tiers.
	Locality Locality
	// MaxConcurrent bounds the pair's calls in flight; the excess is
	// answered 503 overloaded at once.
	MaxConcurrent int
}

// DefaultPolicy is the policy of a pair no rule names.
func DefaultPolicy() Policy { return Policy{}.WithDefaults() }

// WithDefaults returns p with each zero field at its default.
func (p Policy) WithDefaults() Policy {
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.Attempts == 0 {
		p.Attempts = DefaultAttempts
	}
	if p.PerTryTimeout == 0 {
		p.PerTryTimeout = min(DefaultPerTryTimeout, p.Timeout)
	}
	if p.Backoff.BackoffBase == 0 {
		p.Backoff.BackoffBase = DefaultBackoffBase
	}
	if p.Backoff.BackoffCap == 0 {
		p.Backoff.BackoffCap = max(DefaultBackoffCap, p.Backoff.BackoffBase)
	}
	if p.Breaker.FailureThreshold == 0 {
		p.Breaker.FailureThreshold = DefaultFailureThreshold
	}
	if p.Breaker.CoolDown == 0 {
		p.Breaker.CoolDown = DefaultOpenFor
	}
	if p.Balancer == "" {
		p.Balancer = DefaultBalancer
	}
	if p.Locality == "" {
		p.Locality = DefaultLocality
	}
	if p.MaxConcurrent == 0 {
		p.MaxConcurrent = DefaultMaxConcurrent
	}
	return p
}

// Localities lists the valid localities.
var Localities = []Locality{SiteFirst, SiteOnly, Any}

// Validate checks p as written (zero fields mean their defaults); each
// error is a *resilience.FieldError naming the setting as in config.
func (p Policy) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &resilience.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if p.Timeout < 0 {
		bad("timeout", "must not be negative, got %s", p.Timeout)
	}
	if p.Attempts < 0 || p.Attempts > resilience.MaxAttempts {
		bad("retry.attempts", "must be between 1 and %d, got %d", resilience.MaxAttempts, p.Attempts)
	}
	if p.PerTryTimeout < 0 {
		bad("retry.per_try_timeout", "must not be negative, got %s", p.PerTryTimeout)
	}
	if p.Timeout > 0 && p.PerTryTimeout > p.Timeout {
		bad("retry.per_try_timeout", "must not exceed timeout (%s), got %s", p.Timeout, p.PerTryTimeout)
	}
	if err := (resilience.Policy{Retry: p.Backoff, CircuitBreaker: p.Breaker, Balancer: p.Balancer}).Validate(); err != nil {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = append(errs, j.Unwrap()...) // one flat list, each error a field's
		} else {
			errs = append(errs, err)
		}
	}
	if p.Locality != "" && !slices.Contains(Localities, p.Locality) {
		bad("locality", "unknown locality %q (want one of %v)", p.Locality, Localities)
	}
	if p.MaxConcurrent < 0 {
		bad("max_concurrent", "must not be negative, got %d", p.MaxConcurrent)
	}
	return errors.Join(errs...)
}

// Wildcard in a rule's From or To matches any service.
const Wildcard = "*"

// Rule is the policy of the calls From one service To another.
type Rule struct {
	From, To string
	Policy   Policy
}

// Policies resolves the policy of a pair from rules: an exact pair beats
// From "*", which beats To "*", which beats "*" to "*", which beats
// DefaultPolicy. Fields a rule leaves zero take the defaults, not the
// fields of a less specific rule.
type Policies struct {
	rules map[[2]string]Policy
}

// NewPolicies returns the resolver of rules; a later rule for the same
// pair replaces an earlier one.
func NewPolicies(rules []Rule) (*Policies, error) {
	p := &Policies{rules: make(map[[2]string]Policy, len(rules))}
	var errs []error
	for i, r := range rules {
		if r.From == "" || r.To == "" {
			errs = append(errs, fmt.Errorf("proxy: rule %d: from and to are required", i))
			continue
		}
		if err := r.Policy.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("proxy: rule %d (%s → %s): %w", i, r.From, r.To, err))
			continue
		}
		p.rules[[2]string{r.From, r.To}] = r.Policy.WithDefaults()
	}
	return p, errors.Join(errs...)
}

// For returns the effective policy of from calling to.
func (p *Policies) For(from, to string) Policy {
	for _, k := range [][2]string{{from, to}, {Wildcard, to}, {from, Wildcard}, {Wildcard, Wildcard}} {
		if pol, ok := p.rules[k]; ok {
			return pol
		}
	}
	return DefaultPolicy()
}
