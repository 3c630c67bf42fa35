package gossip

import (
	"testing"
	"time"
)

func TestRTTAverage(t *testing.T) {
	var r rtts
	if _, ok := r.get("a"); ok {
		t.Fatal("an unprobed node has an RTT")
	}
	r.observe("a", 10*time.Millisecond)
	if d, _ := r.get("a"); d != 10*time.Millisecond {
		t.Fatalf("first probe: %v, want 10ms", d)
	}
	r.observe("a", 20*time.Millisecond)
	if d, _ := r.get("a"); d != 12*time.Millisecond {
		t.Fatalf("after 20ms: %v, want 12ms (weight 0.2)", d)
	}
	r.observe("a", -time.Second)
	if d, _ := r.get("a"); d != 12*time.Millisecond {
		t.Fatalf("a negative RTT moved the average to %v", d)
	}
}
