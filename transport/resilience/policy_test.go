package resilience

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestPolicyFromYAML(t *testing.T) {
	const doc = `
timeout: 2s
retry: {attempts: 4, backoff_base: 20ms, backoff_cap: 1s}
circuit_breaker: {failure_threshold: 7, cool_down: 30s}
balancer: least_outstanding
`
	var p Policy
	if err := yaml.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	want := Policy{
		Timeout:        2 * time.Second,
		Retry:          Retry{Attempts: 4, BackoffBase: 20 * time.Millisecond, BackoffCap: time.Second},
		CircuitBreaker: BreakerConfig{FailureThreshold: 7, CoolDown: 30 * time.Second},
		Balancer:       LeastOutstanding,
	}
	if p != want {
		t.Fatalf("got %+v, want %+v", p, want)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyDefaults(t *testing.T) {
	p := DefaultPolicy()
	want := Policy{
		Timeout:        DefaultTimeout,
		Retry:          Retry{Attempts: DefaultAttempts, BackoffBase: DefaultBackoffBase, BackoffCap: DefaultBackoffCap},
		CircuitBreaker: BreakerConfig{FailureThreshold: DefaultFailureThreshold, CoolDown: DefaultCoolDown},
		Balancer:       RoundRobin,
	}
	if p != want {
		t.Fatalf("got %+v, want %+v", p, want)
	}
	if err := (Policy{}).Validate(); err != nil {
		t.Fatalf("zero policy (all defaults) invalid: %v", err)
	}
	// A base above the default cap raises the defaulted cap.
	if p := (Policy{Retry: Retry{BackoffBase: 5 * time.Second}}).WithDefaults(); p.Retry.BackoffCap != 5*time.Second {
		t.Fatalf("cap %s", p.Retry.BackoffCap)
	}
}

func TestPolicyValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		field  string
	}{
		{"negative timeout", Policy{Timeout: -1}, "timeout"},
		{"negative attempts", Policy{Retry: Retry{Attempts: -1}}, "retry.attempts"},
		{"too many attempts", Policy{Retry: Retry{Attempts: MaxAttempts + 1}}, "retry.attempts"},
		{"negative base", Policy{Retry: Retry{BackoffBase: -time.Second}}, "retry.backoff_base"},
		{"negative cap", Policy{Retry: Retry{BackoffCap: -time.Second}}, "retry.backoff_cap"},
		{"cap below base", Policy{Retry: Retry{BackoffBase: time.Second, BackoffCap: time.Millisecond}}, "retry.backoff_cap"},
		{"negative threshold", Policy{CircuitBreaker: BreakerConfig{FailureThreshold: -2}}, "circuit_breaker.failure_threshold"},
		{"negative cool-down", Policy{CircuitBreaker: BreakerConfig{CoolDown: -time.Second}}, "circuit_breaker.cool_down"},
		{"unknown balancer", Policy{Balancer: "fastest"}, "balancer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("got %v, want a FieldError for %q", err, tt.field)
			}
			if !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Fatalf("message %q does not start with the field", err)
			}
		})
	}
	// Every problem is reported, not just the first.
	err := Policy{Timeout: -1, Balancer: "x"}.Validate()
	if !strings.Contains(err.Error(), "timeout") || !strings.Contains(err.Error(), "balancer") {
		t.Fatalf("want both fields named, got %v", err)
	}
}
