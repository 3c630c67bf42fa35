// Package testutil holds the helpers the agent's tests share: polling for
// a condition with a deadline, and a buffer several goroutines may write
// while a test reads it. gossip, store and transport never import the
// agent, so gossip and transport keep a copy of Eventually.
package testutil

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Eventually calls f until it returns nil, and fails the test with f's last
// error if that has not happened within timeout. f is called at once, then
// after waits that double from 10ms to 50ms, and once more at the
// deadline. gossip and transport keep a copy for their own tests.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("not within %v: %v", timeout, err)
			return
		}
		time.Sleep(min(wait, left)) // polling interval, not synchronisation
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer that is safe for concurrent use, such as a
// log destination that a test reads while the code under test writes.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
