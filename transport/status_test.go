package transport

import (
	"context"
	"errors"
	"testing"
	"time"
)

// expiredUnfired is a context whose deadline has passed while its timer
// has not fired yet: it still reports no error.
type expiredUnfired struct{ context.Context }

func (expiredUnfired) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// TestCtxErrorBeforeTheTimerFires: a call that finds its deadline passed
// before its context says so fails with DeadlineExceeded (it used to
// dereference the context's nil error).
func TestCtxErrorBeforeTheTimerFires(t *testing.T) {
	e := ctxError(expiredUnfired{context.Background()}, true)
	if e.Code != DeadlineExceeded || !e.Unprocessed || !errors.Is(e.cause, context.DeadlineExceeded) {
		t.Fatalf("ctxError = %+v", e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if e := ctxError(ctx, false); e.Code != Canceled {
		t.Fatalf("ctxError of a canceled context = %+v", e)
	}
}
