package gossip

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"
)

// newMemberlistLogger adapts memberlist's "[LEVEL] memberlist: text" log
// lines to slog, and turns decryption failures into a message that names
// the likely cause, counting them in undecryptable (memberlist reports
// them only by logging), and tells suspects of each member memberlist
// starts to suspect (see suspicions). stopping reports that the mesh is shutting down:
// the sends memberlist's timers still make on the closed sockets then
// fail, which is no news.
func newMemberlistLogger(l *slog.Logger, stopping func() bool, undecryptable *atomic.Uint64, suspects func(string)) *log.Logger {
	return log.New(&memberlistWriter{log: l, stopping: stopping, undecryptable: undecryptable, suspects: suspects}, "", 0)
}

type memberlistWriter struct {
	log           *slog.Logger
	stopping      func() bool
	undecryptable *atomic.Uint64 // nil: not counted
	suspects      func(string)   // told of each member this node suspects; nil: nobody
}

func (w *memberlistWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{
		"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError,
	} {
		if strings.HasPrefix(line, prefix) {
			level, line = l, strings.TrimSpace(strings.TrimPrefix(line, prefix))
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	if name, ok := suspectLine(line); ok && w.suspects != nil {
		w.suspects(name)
	}
	if level > slog.LevelInfo && expected(line) {
		level = slog.LevelInfo
	}
	if level > slog.LevelDebug && w.stopping != nil && w.stopping() && closedTransport(line) {
		level = slog.LevelDebug
	}
	if strings.Contains(line, "decrypt") || strings.Contains(line, "not encrypted") {
		if w.undecryptable != nil {
			w.undecryptable.Add(1)
		}
		w.log.Error("gossip could not be decrypted: the encrypt key is probably wrong (this node's or the peer's)", "detail", line)
		return len(p), nil
	}
	w.log.Log(context.Background(), level, line, "source", "memberlist")
	return len(p), nil
}

// expected reports memberlist warnings that a healthy mesh produces in its
// ordinary life and that need no operator: a node restarted soon after it
// stopped hears of its earlier run (its leave, peers that saw it fail, or
// its old metadata) and refutes it by announcing a newer incarnation.
// Refuting a suspicion stays a warning: it tells of lost probes.
func expected(line string) bool {
	return strings.HasPrefix(line, "Refuting a dead message") || strings.HasPrefix(line, "Refuting an alive message")
}

// closedTransport reports a send that failed because the transport is
// closed: memberlist's UDP socket, or a transport that says it shut down
// (quicnet's ErrShutdown, this package's).
func closedTransport(line string) bool {
	return strings.Contains(line, "use of closed network connection") || strings.Contains(line, "shut down")
}
