package proxy

import (
	"errors"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/transport/resilience"
)

func TestPoliciesFor(t *testing.T) {
	exact := Policy{Timeout: 1 * time.Second}
	fromAny := Policy{Timeout: 2 * time.Second}
	toAny := Policy{Timeout: 4 * time.Second}
	both := Policy{Timeout: 8 * time.Second}
	p, err := NewPolicies([]Rule{
		{From: "checkout", To: "billing", Policy: exact},
		{From: "*", To: "billing", Policy: fromAny},
		{From: "checkout", To: "*", Policy: toAny},
		{From: "*", To: "*", Policy: both},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from, to string
		want     time.Duration
	}{
		{"checkout", "billing", 1 * time.Second},
		{"cart", "billing", 2 * time.Second},
		{"checkout", "stock", 4 * time.Second},
		{"cart", "stock", 8 * time.Second},
	} {
		if got := p.For(tc.from, tc.to); got.Timeout != tc.want || got.Attempts != DefaultAttempts {
			t.Errorf("%s → %s: timeout %s attempts %d, want %s and the default attempts", tc.from, tc.to, got.Timeout, got.Attempts, tc.want)
		}
	}
	none, _ := NewPolicies(nil)
	if got := none.For("a", "b"); got != DefaultPolicy() {
		t.Errorf("no rules: %+v, want the defaults", got)
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		p     Policy
		field string
	}{
		{Policy{Timeout: -1}, "timeout"},
		{Policy{Attempts: 11}, "retry.attempts"},
		{Policy{Timeout: time.Second, PerTryTimeout: 2 * time.Second}, "retry.per_try_timeout"},
		{Policy{Locality: "moon"}, "locality"},
		{Policy{Balancer: "fastest"}, "balancer"},
		{Policy{MaxConcurrent: -1}, "max_concurrent"},
		{Policy{Breaker: resilience.BreakerConfig{FailureThreshold: -1}}, "circuit_breaker.failure_threshold"},
	} {
		err := tc.p.Validate()
		var fe *resilience.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: %v, want an error naming %s", tc.p, err, tc.field)
		}
	}
	if err := (Policy{}).Validate(); err != nil {
		t.Errorf("zero policy: %v", err)
	}
}
