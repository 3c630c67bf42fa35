package resilience

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	r := Retry{Attempts: 5, BackoffBase: 100 * time.Millisecond, BackoffCap: time.Second}
	tests := []struct {
		name string
		n    int
		u    float64
		want time.Duration
	}{
		{"first retry, no jitter", 1, 0, 50 * time.Millisecond},
		{"first retry, full jitter", 1, 0.999999, 100*time.Millisecond - 50},
		{"first retry, half jitter", 1, 0.5, 75 * time.Millisecond},
		{"second retry doubles", 2, 0, 100 * time.Millisecond},
		{"third retry", 3, 0.5, 300 * time.Millisecond},
		{"capped", 5, 0, 500 * time.Millisecond},
		{"capped far out", 80, 0.5, 750 * time.Millisecond},
		{"n below 1 is the first retry", 0, 0, 50 * time.Millisecond},
		{"u clamped low", 1, -3, 50 * time.Millisecond},
		{"u clamped high", 1, 7, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Backoff(tt.n, tt.u)
			if d := got - tt.want; d < -time.Microsecond || d > time.Microsecond {
				t.Fatalf("Backoff(%d, %v) = %s, want %s", tt.n, tt.u, got, tt.want)
			}
		})
	}
}

// The schedule of gossip join retries (base 1 s, cap 10 s).
func TestBackoffJoinSchedule(t *testing.T) {
	r := Retry{BackoffBase: time.Second, BackoffCap: 10 * time.Second}
	tests := []struct {
		n    int
		u    float64
		want time.Duration
	}{
		{1, 0, 500 * time.Millisecond},
		{1, 0.999999, time.Second},
		{2, 0, time.Second},
		{4, 0, 4 * time.Second},
		{5, 0, 5 * time.Second}, // capped at 10 s
		{61, 0.5, 7500 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := r.Backoff(tt.n, tt.u); got.Round(time.Millisecond) != tt.want {
			t.Errorf("Backoff(%d, %v) = %v, want %v", tt.n, tt.u, got, tt.want)
		}
	}
}

func TestBackoffEdgeCases(t *testing.T) {
	if got := (Retry{}).Backoff(3, 0.5); got != 0 {
		t.Errorf("zero base: got %s, want 0", got)
	}
	// A cap below the base is raised to the base.
	if got := (Retry{BackoffBase: time.Second, BackoffCap: time.Millisecond}).Backoff(4, 0); got != 500*time.Millisecond {
		t.Errorf("cap below base: got %s", got)
	}
	// Never overflows into a negative pause.
	r := Retry{BackoffBase: time.Duration(1) << 61, BackoffCap: time.Duration(1<<63 - 1)}
	for n := 1; n < 70; n++ {
		if got := r.Backoff(n, 0.9); got <= 0 {
			t.Fatalf("Backoff(%d) = %s, want > 0", n, got)
		}
	}
}
