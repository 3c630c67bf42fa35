// Package testutil holds the helpers the agent's tests share: polling for
// a condition with a deadline, a buffer several goroutines may write
// while a test reads it, and the bytes the process wrote to disk. gossip, store and transport never import the
// agent, so gossip and transport keep a copy of Eventually.
package testutil

import (
	"bytes"
	"os"
	"strconv"
	"strings"
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

// WrittenBytes returns what this process has written to disk so far
// (write_bytes of /proc/self/io), or false where the kernel does not say.
func WrittenBytes() (int64, bool) {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
