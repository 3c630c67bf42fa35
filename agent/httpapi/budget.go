package httpapi

import (
	"container/list"
	"context"
	"sync"
)

// byteBudget is a weighted semaphore on bytes: large reads take what a
// page of their answer holds before reading it and give it back once the
// page is written out, so that concurrent large reads hold at most the
// budget between them. Waiters are served in arrival order, so a large
// request is not starved by a stream of small ones.
type byteBudget struct {
	mu      sync.Mutex
	size    int64
	used    int64
	waiters list.List // of *budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed when the bytes are granted
}

func newByteBudget(size int64) *byteBudget { return &byteBudget{size: size} }

// acquire takes n bytes, at most the whole budget, waiting until they are
// free or ctx ends. It returns how many bytes it took, to pass to release.
func (b *byteBudget) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(max(n, 1), b.size)
	b.mu.Lock()
	if b.size-b.used >= n && b.waiters.Len() == 0 {
		b.used += n
		b.mu.Unlock()
		return n, nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	elem := b.waiters.PushBack(w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return n, nil
	case <-ctx.Done():
		b.mu.Lock()
		select {
		case <-w.ready:
			// Granted while giving up: hand the bytes back.
			b.mu.Unlock()
			b.release(n)
		default:
			front := b.waiters.Front() == elem
			b.waiters.Remove(elem)
			// Leaving the head of the queue may let the next waiters in.
			if front {
				b.grantLocked()
			}
			b.mu.Unlock()
		}
		return 0, ctx.Err()
	}
}

// release gives back n bytes taken by acquire.
func (b *byteBudget) release(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.used < 0 {
		b.mu.Unlock()
		panic("httpapi: byte budget released more than acquired")
	}
	b.grantLocked()
	b.mu.Unlock()
}

// grantLocked grants waiters in order while the first one fits.
func (b *byteBudget) grantLocked() {
	for {
		e := b.waiters.Front()
		if e == nil {
			return
		}
		w := e.Value.(*budgetWaiter)
		if b.size-b.used < w.n {
			return
		}
		b.used += w.n
		b.waiters.Remove(e)
		close(w.ready)
	}
}

// inUse reports the bytes taken, for tests.
func (b *byteBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
