package testutil

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf records the failure and returns.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	r := &recorder{TB: t}
	calls := 0
	Eventually(r, 10*time.Second, func() error {
		if calls++; calls < 3 {
			return fmt.Errorf("attempt %d", calls)
		}
		return nil
	})
	if r.failed != "" || calls != 3 {
		t.Fatalf("failed %q after %d calls, want success after 3", r.failed, calls)
	}
}

func TestEventuallyFailsWithTheLastError(t *testing.T) {
	r := &recorder{TB: t}
	calls := 0
	Eventually(r, 50*time.Millisecond, func() error {
		calls++
		return fmt.Errorf("attempt %d", calls)
	})
	if calls < 2 {
		t.Fatalf("%d calls, want one at the start and one at the deadline", calls)
	}
	if want := fmt.Sprintf("not within 50ms: attempt %d", calls); r.failed != want {
		t.Fatalf("failure %q, want %q", r.failed, want)
	}
}

func TestSyncBufferConcurrentWrites(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				io.WriteString(&b, "x\n")
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "x\n"); n != 400 {
		t.Fatalf("%d lines, want 400", n)
	}
}
