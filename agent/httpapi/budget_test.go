package httpapi

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

func TestByteBudget(t *testing.T) {
	b := newByteBudget(100)
	ctx := context.Background()
	if n, err := b.acquire(ctx, 1000); err != nil || n != 100 {
		t.Fatalf("acquire over the size = %d, %v; want the whole budget", n, err)
	}
	b.release(100)
	a, _ := b.acquire(ctx, 60)

	// A large waiter queues; a small one behind it waits its turn even
	// though it would fit.
	large := make(chan int64, 1)
	go func() { n, _ := b.acquire(ctx, 80); large <- n }()
	waitQueued(t, b, 1)
	small := make(chan int64, 1)
	go func() { n, _ := b.acquire(ctx, 10); small <- n }()
	waitQueued(t, b, 2)

	// A waiter that gives up leaves the queue.
	cctx, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() { _, err := b.acquire(cctx, 5); gaveUp <- err }()
	waitQueued(t, b, 3)
	cancel()
	if err := <-gaveUp; err == nil {
		t.Fatal("a cancelled acquire succeeded")
	}

	b.release(a)
	if n := recv(t, large); n != 80 {
		t.Fatalf("large got %d", n)
	}
	if n := recv(t, small); n != 10 {
		t.Fatalf("small got %d", n)
	}
	b.release(80)
	b.release(10)
	if b.inUse() != 0 {
		t.Fatalf("%d in use at the end", b.inUse())
	}
}

func recv(t *testing.T, c chan int64) int64 {
	t.Helper()
	select {
	case n := <-c:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("waiter not granted")
		return 0
	}
}

// waitQueued waits until n readers wait in b's queue.
func waitQueued(t *testing.T, b *byteBudget, n int) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if got := b.waiters.Len(); got != n {
			return fmt.Errorf("%d readers queued for the budget, want %d", got, n)
		}
		return nil
	})
}
