// Package sdnotifytest provides a fake systemd notification socket for
// tests: it receives the datagrams a service sends to NOTIFY_SOCKET and hands
// them to the test in order.
package sdnotifytest

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Socket is a listening unixgram socket standing in for systemd's.
type Socket struct {
	// Path is the value to give NOTIFY_SOCKET.
	Path string

	t    testing.TB
	msgs chan string
}

// Listen opens a Socket in a temporary directory; it is closed when the test
// ends.
func Listen(t testing.TB) *Socket {
	t.Helper()
	dir := t.TempDir()
	if len(dir) > 80 { // sockaddr_un holds 108 bytes
		var err error
		if dir, err = os.MkdirTemp("", "sd"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	return ListenAt(t, filepath.Join(dir, "notify.sock"))
}

// ListenAt opens a Socket at path; a leading '@' puts it in the abstract
// namespace. It is closed when the test ends.
func ListenAt(t testing.TB, path string) *Socket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Socket{Path: path, t: t, msgs: make(chan string, 1024)}
	done, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.msgs)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return // closed at cleanup
			}
			select {
			case s.msgs <- string(buf[:n]):
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		conn.Close()
		<-done
	})
	return s
}

// Next returns the next datagram, failing the test when none arrives within
// timeout.
func (s *Socket) Next(timeout time.Duration) string {
	s.t.Helper()
	select {
	case m, ok := <-s.msgs:
		if !ok {
			s.t.Fatal("notify socket closed")
		}
		return m
	case <-time.After(timeout):
		s.t.Fatalf("no notification within %s", timeout)
		return ""
	}
}

// WaitFor returns the datagrams received up to and including the first one
// for which match is true, failing the test when none matches within
// timeout.
func (s *Socket) WaitFor(timeout time.Duration, match func(msg string) bool) []string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var seen []string
	for {
		left := time.Until(deadline)
		if left <= 0 {
			s.t.Fatalf("no matching notification within %s; received %q", timeout, seen)
		}
		select {
		case m, ok := <-s.msgs:
			if !ok {
				s.t.Fatalf("notify socket closed; received %q", seen)
			}
			seen = append(seen, m)
			if match(m) {
				return seen
			}
		case <-time.After(left):
		}
	}
}

// Mark sends "MARK=name" to the socket itself. Datagrams are read in the
// order they arrive, so a test can tell what the service sent before and
// after a moment of its choosing.
func (s *Socket) Mark(name string) {
	s.t.Helper()
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: s.Path, Net: "unixgram"})
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("MARK=" + name + "\n")); err != nil {
		s.t.Fatal(err)
	}
}

// IsMark reports whether msg is the mark name sent by Mark.
func IsMark(msg, name string) bool { return msg == "MARK="+name+"\n" }

// Has reports whether msg holds the assignment a (such as "READY=1").
func Has(msg, a string) bool {
	for line := range strings.SplitSeq(msg, "\n") {
		if line == a {
			return true
		}
	}
	return false
}

// Value returns the value of variable name in msg, and whether it is set.
func Value(msg, name string) (string, bool) {
	for line := range strings.SplitSeq(msg, "\n") {
		if v, ok := strings.CutPrefix(line, name+"="); ok {
			return v, true
		}
	}
	return "", false
}
