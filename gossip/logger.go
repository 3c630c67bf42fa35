package gossip

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
)

// newMemberlistLogger adapts memberlist's "[LEVEL] memberlist: text" log
// lines to slog, and turns decryption failures into a message that names
// the likely cause.
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(&memberlistWriter{log: l}, "", 0)
}

type memberlistWriter struct{ log *slog.Logger }

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
	if strings.Contains(line, "decrypt") {
		w.log.Error("gossip could not be decrypted: the encrypt key is probably wrong (this node's or the peer's)", "detail", line)
		return len(p), nil
	}
	w.log.Log(context.Background(), level, line, "source", "memberlist")
	return len(p), nil
}
