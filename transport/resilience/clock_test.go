package resilience

import (
	"context"
	"testing"
	"time"
)

func TestFakeClockSleepAdvances(t *testing.T) {
	start := time.Unix(100, 0)
	c := NewFakeClock(start)
	if err := c.Sleep(context.Background(), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if got := c.Now().Sub(start); got != 4*time.Second {
		t.Fatalf("advanced %s, want 4s", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err == nil {
		t.Fatal("sleep on a cancelled context succeeded")
	}
	if got := c.Sleeps(); len(got) != 1 || got[0] != 3*time.Second {
		t.Fatalf("sleeps %v", got)
	}
}

func TestSystemClockSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (SystemClock{}).Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if err := (SystemClock{}).Sleep(context.Background(), time.Microsecond); err != nil {
		t.Fatal(err)
	}
}
