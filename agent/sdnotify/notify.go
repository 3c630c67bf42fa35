// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)) and runs the watchdog that keeps a Type=notify service
// alive only while it is healthy.
//
// # Protocol
//
// systemd passes a service the path of a datagram socket in NOTIFY_SOCKET
// (a leading '@' names a socket in the abstract namespace). The service
// reports its state by sending newline-separated VAR=VALUE assignments to it:
// READY=1 once it serves, RELOADING=1 with MONOTONIC_USEC while it re-reads
// its configuration (then READY=1 again), STOPPING=1 when it shuts down,
// STATUS=... as a line for `systemctl status`, and WATCHDOG=1 as a keep-alive
// when the unit sets WatchdogSec (systemd then passes WATCHDOG_USEC).
//
// FromEnv reads those variables once and removes them from the process
// environment, so that no child the process starts can speak for it. A
// Notifier built without a socket (the process was not started by systemd)
// accepts every call and sends nothing, so callers need no conditionals.
//
// # Watchdog
//
// A Watchdog pings at half the interval systemd asked for, and only after a
// health check passes. A wedged process therefore stops pinging and systemd
// restarts it, rather than being kept alive by a ticker that runs whatever
// the state of the rest of the process. HealthProbe is the agent's check:
// a read of its store, then a request to its own HTTP API over a new
// connection.
//
// The package uses the standard library's unixgram sockets and x/sys for the
// monotonic clock; it adds no module to the binary.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Environment variables systemd sets for a service.
const (
	EnvSocket       = "NOTIFY_SOCKET"
	EnvWatchdogUsec = "WATCHDOG_USEC"
	EnvWatchdogPID  = "WATCHDOG_PID"
)

// writeTimeout bounds one send: systemd reads its socket promptly, and a
// notification must never hold the process up.
const writeTimeout = time.Second

// Notifier sends state notifications to systemd. The zero value and a nil
// *Notifier send nothing. It is safe for concurrent use.
type Notifier struct {
	socket string // empty: notifications are dropped
}

// New returns a Notifier that sends to the datagram socket at path; an empty
// path gives a Notifier that sends nothing.
func New(path string) *Notifier {
	return &Notifier{socket: path}
}

// FromEnv returns a Notifier for NOTIFY_SOCKET and the watchdog interval from
// WATCHDOG_USEC (0 when the watchdog is off, or when WATCHDOG_PID names
// another process), then unsets NOTIFY_SOCKET, WATCHDOG_USEC and
// WATCHDOG_PID so that children do not inherit them. A malformed
// WATCHDOG_USEC is an error; the Notifier is usable all the same.
func FromEnv() (*Notifier, time.Duration, error) {
	n := New(os.Getenv(EnvSocket))
	interval, err := watchdogInterval(os.Getenv(EnvWatchdogUsec), os.Getenv(EnvWatchdogPID), os.Getpid())
	for _, v := range []string{EnvSocket, EnvWatchdogUsec, EnvWatchdogPID} {
		os.Unsetenv(v)
	}
	return n, interval, err
}

// watchdogInterval parses WATCHDOG_USEC, honouring WATCHDOG_PID as
// sd_watchdog_enabled(3) does.
func watchdogInterval(usec, pid string, self int) (time.Duration, error) {
	if usec == "" {
		return 0, nil
	}
	if pid != "" {
		p, err := strconv.Atoi(pid)
		if err != nil {
			return 0, fmt.Errorf("sdnotify: %s=%q is not a process id", EnvWatchdogPID, pid)
		}
		if p != self {
			return 0, nil // meant for another process
		}
	}
	us, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || us == 0 {
		return 0, fmt.Errorf("sdnotify: %s=%q is not a positive number of microseconds", EnvWatchdogUsec, usec)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// Enabled reports whether notifications are sent anywhere.
func (n *Notifier) Enabled() bool { return n != nil && n.socket != "" }

// Send sends one datagram holding the given VAR=VALUE assignments. It
// returns nil without sending when n is not Enabled.
func (n *Notifier) Send(assignments ...string) error {
	if !n.Enabled() || len(assignments) == 0 {
		return nil
	}
	for _, a := range assignments {
		if !strings.Contains(a, "=") {
			return fmt.Errorf("sdnotify: %q is not VAR=VALUE", a)
		}
	}
	// A fresh socket per message, as sd_notify does: nothing to keep open
	// or to reconnect when systemd re-executes itself.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	if _, err := conn.Write([]byte(strings.Join(assignments, "\n") + "\n")); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}

// Ready tells systemd the service is up, with a status line when status is
// not empty.
func (n *Notifier) Ready(status string) error {
	return n.Send(withStatus(status, "READY=1")...)
}

// Reloading tells systemd the service is re-reading its configuration.
// Follow it with Ready when done, whatever the outcome.
func (n *Notifier) Reloading() error {
	usec, err := monotonicUsec()
	if err != nil {
		return err
	}
	return n.Send("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatInt(usec, 10))
}

// Stopping tells systemd the service is shutting down.
func (n *Notifier) Stopping(status string) error {
	return n.Send(withStatus(status, "STOPPING=1")...)
}

// Status sets the status line `systemctl status` shows.
func (n *Notifier) Status(status string) error {
	return n.Send("STATUS=" + oneLine(status))
}

// Watchdog sends a keep-alive ping.
func (n *Notifier) Watchdog() error { return n.Send("WATCHDOG=1") }

func withStatus(status string, assignments ...string) []string {
	if status != "" {
		assignments = append(assignments, "STATUS="+oneLine(status))
	}
	return assignments
}

// oneLine keeps a status to one line: a newline would start a new
// assignment.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// monotonicUsec reads CLOCK_MONOTONIC in microseconds, the clock systemd
// compares MONOTONIC_USEC with.
func monotonicUsec() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("sdnotify: reading the monotonic clock: %w", err)
	}
	return ts.Nano() / 1e3, nil
}
