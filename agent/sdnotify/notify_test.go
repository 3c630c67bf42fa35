package sdnotify

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/sdnotify/sdnotifytest"
)

const wait = 10 * time.Second

func TestNotifierSends(t *testing.T) {
	sock := sdnotifytest.Listen(t)
	n := New(sock.Path)
	tests := []struct {
		name string
		send func() error
		want string
	}{
		{"ready", func() error { return n.Ready("serving") }, "READY=1\nSTATUS=serving\n"},
		{"ready without status", func() error { return n.Ready("") }, "READY=1\n"},
		{"stopping", func() error { return n.Stopping("bye") }, "STOPPING=1\nSTATUS=bye\n"},
		{"status on one line", func() error { return n.Status("a\nb") }, "STATUS=a b\n"},
		{"watchdog", n.Watchdog, "WATCHDOG=1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.send(); err != nil {
				t.Fatal(err)
			}
			if got := sock.Next(wait); got != tt.want {
				t.Fatalf("sent %q, want %q", got, tt.want)
			}
		})
	}
	if err := n.Send("not an assignment"); err == nil {
		t.Fatal("Send accepted a line without '='")
	}
}

func TestReloadingCarriesMonotonicTime(t *testing.T) {
	sock := sdnotifytest.Listen(t)
	before, err := monotonicUsec()
	if err != nil {
		t.Fatal(err)
	}
	if err := New(sock.Path).Reloading(); err != nil {
		t.Fatal(err)
	}
	msg := sock.Next(wait)
	after, _ := monotonicUsec()
	if !sdnotifytest.Has(msg, "RELOADING=1") {
		t.Fatalf("no RELOADING=1 in %q", msg)
	}
	v, ok := sdnotifytest.Value(msg, "MONOTONIC_USEC")
	usec, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil || usec < before || usec > after {
		t.Fatalf("MONOTONIC_USEC=%q, want a reading between %d and %d", v, before, after)
	}
}

func TestAbstractSocket(t *testing.T) {
	name := fmt.Sprintf("@edgeplane-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	sock := sdnotifytest.ListenAt(t, name)
	if err := New(name).Ready(""); err != nil {
		t.Fatal(err)
	}
	if got := sock.Next(wait); got != "READY=1\n" {
		t.Fatalf("got %q", got)
	}
}

func TestDisabledNotifierSendsNothing(t *testing.T) {
	for _, n := range []*Notifier{nil, {}, New("")} {
		if n.Enabled() {
			t.Fatal("a notifier without a socket is enabled")
		}
		if err := n.Ready("x"); err != nil {
			t.Fatal(err)
		}
		if err := n.Reloading(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFromEnvUnsetsForChildren(t *testing.T) {
	sock := sdnotifytest.Listen(t)
	t.Setenv(EnvSocket, sock.Path)
	t.Setenv(EnvWatchdogUsec, "3000000")
	t.Setenv(EnvWatchdogPID, strconv.Itoa(os.Getpid()))
	n, interval, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if interval != 3*time.Second {
		t.Fatalf("interval = %s, want 3s", interval)
	}
	if err := n.Ready(""); err != nil {
		t.Fatal(err)
	}
	if got := sock.Next(wait); got != "READY=1\n" {
		t.Fatalf("got %q", got)
	}
	out, err := exec.Command("sh", "-c", `echo "[$NOTIFY_SOCKET][$WATCHDOG_USEC][$WATCHDOG_PID]"`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "[][][]" {
		t.Fatalf("a child inherited %s", got)
	}
}

func TestWatchdogInterval(t *testing.T) {
	const self = 42
	tests := []struct {
		usec, pid string
		want      time.Duration
		wantErr   bool
	}{
		{"", "", 0, false},
		{"30000000", "", 30 * time.Second, false},
		{"30000000", "42", 30 * time.Second, false},
		{"30000000", "43", 0, false}, // another process's watchdog
		{"0", "", 0, true},
		{"-5", "", 0, true},
		{"soon", "", 0, true},
		{"1000", "x", 0, true},
	}
	for _, tt := range tests {
		got, err := watchdogInterval(tt.usec, tt.pid, self)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("watchdogInterval(%q, %q) = %s, %v; want %s, error %t", tt.usec, tt.pid, got, err, tt.want, tt.wantErr)
		}
	}
}
