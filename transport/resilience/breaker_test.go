package resilience

import (
	"testing"
	"time"
)

// TestBreakerScripts walks the breaker through scripted steps. Each step
// advances the clock, then acts, then checks the state.
func TestBreakerScripts(t *testing.T) {
	type step struct {
		advance time.Duration
		// act is one of "allow" (want allowed), "deny" (want rejected),
		// "ok", "fail", "ignore" (record an outcome), or "" (just look).
		act  string
		want State
	}
	cfg := BreakerConfig{FailureThreshold: 3, CoolDown: 10 * time.Second}
	tests := []struct {
		name  string
		steps []step
	}{
		{"stays closed below threshold", []step{
			{0, "fail", Closed}, {0, "fail", Closed}, {0, "allow", Closed},
		}},
		{"success resets the count", []step{
			{0, "fail", Closed}, {0, "fail", Closed}, {0, "ok", Closed},
			{0, "fail", Closed}, {0, "fail", Closed}, {0, "allow", Closed},
		}},
		{"opens after threshold and rejects", []step{
			{0, "fail", Closed}, {0, "fail", Closed}, {0, "fail", Open},
			{0, "deny", Open}, {9 * time.Second, "deny", Open},
		}},
		{"half-opens after cool-down, single probe, closes on success", []step{
			{0, "fail", Closed}, {0, "fail", Closed}, {0, "fail", Open},
			{10 * time.Second, "", HalfOpen},
			{0, "allow", HalfOpen}, {0, "deny", HalfOpen}, {0, "deny", HalfOpen},
			{0, "ok", Closed}, {0, "allow", Closed},
		}},
		{"failed probe reopens and restarts cool-down", []step{
			{0, "fail", Closed}, {0, "fail", Closed}, {0, "fail", Open},
			{10 * time.Second, "allow", HalfOpen}, {time.Second, "fail", Open},
			{9 * time.Second, "deny", Open}, {time.Second, "allow", HalfOpen},
		}},
		{"ignored probe frees the slot", []step{
			{0, "fail", Closed}, {0, "fail", Closed}, {0, "fail", Open},
			{11 * time.Second, "allow", HalfOpen}, {0, "ignore", HalfOpen},
			{0, "allow", HalfOpen}, {0, "ok", Closed},
		}},
		{"outcomes while open are ignored", []step{
			{0, "fail", Closed}, {0, "fail", Closed}, {0, "fail", Open},
			{5 * time.Second, "fail", Open}, {0, "ok", Open},
			{5 * time.Second, "", HalfOpen},
		}},
		{"ignored never counts as failure", []step{
			{0, "fail", Closed}, {0, "ignore", Closed}, {0, "ignore", Closed},
			{0, "fail", Closed}, {0, "fail", Open},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(1_700_000_000, 0)
			b := NewBreaker(cfg)
			for i, s := range tt.steps {
				now = now.Add(s.advance)
				switch s.act {
				case "allow", "deny":
					if got := b.Allow(now); got != (s.act == "allow") {
						t.Fatalf("step %d: Allow = %v, want %v", i, got, !got)
					}
				case "ok":
					b.Record(now, Success)
				case "fail":
					b.Record(now, Failure)
				case "ignore":
					b.Record(now, Ignored)
				}
				if got := b.State(now); got != s.want {
					t.Fatalf("step %d (%q): state %s, want %s", i, s.act, got, s.want)
				}
			}
		})
	}
}

func TestBreakerReadyDoesNotTakeProbe(t *testing.T) {
	now := time.Unix(0, 0)
	b := NewBreaker(BreakerConfig{FailureThreshold: 1, CoolDown: time.Second})
	b.Record(now, Failure)
	if b.Ready(now) {
		t.Fatal("open breaker is ready")
	}
	now = now.Add(time.Second)
	for range 3 {
		if !b.Ready(now) {
			t.Fatal("half-open breaker without probe is not ready")
		}
	}
	if !b.Allow(now) || b.Ready(now) {
		t.Fatal("probe taken: want Allow true, then Ready false")
	}
}

func TestBreakerDefaults(t *testing.T) {
	b := NewBreaker(BreakerConfig{})
	now := time.Unix(0, 0)
	for range DefaultFailureThreshold - 1 {
		b.Record(now, Failure)
	}
	if b.State(now) != Closed {
		t.Fatal("opened before the default threshold")
	}
	b.Record(now, Failure)
	if b.State(now.Add(DefaultCoolDown-1)) != Open || b.State(now.Add(DefaultCoolDown)) != HalfOpen {
		t.Fatal("default cool-down not applied")
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Closed: "closed", Open: "open", HalfOpen: "half-open", 9: "unknown"} {
		if s.String() != want {
			t.Errorf("%d: %q", s, s.String())
		}
	}
}
