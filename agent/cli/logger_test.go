package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/transport"
)

// TestAgentLogCarriesTraceID: the agent's log, text or JSON, gives a line
// logged with a traced context its trace_id, and a line without one none.
func TestAgentLogCarriesTraceID(t *testing.T) {
	tp, _ := transport.ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	ctx := transport.ContextWithTraceparent(context.Background(), tp)
	for _, asJSON := range []bool{false, true} {
		var errb testutil.SyncBuffer
		cfg := config.DevDefault()
		cfg.LogJSON = asJSON
		log := newLogger(IO{Stderr: &errb}, cfg, slog.LevelInfo)
		log.InfoContext(ctx, "traced")
		log.Info("untraced")
		lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
		if len(lines) != 2 || strings.Contains(lines[1], "trace_id") {
			t.Fatalf("json %v: %q", asJSON, lines)
		}
		if !asJSON {
			if !strings.Contains(lines[0], "msg=traced trace_id="+tp.TraceIDString()) {
				t.Errorf("text line %q lacks the trace id", lines[0])
			}
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec["trace_id"] != tp.TraceIDString() {
			t.Errorf("JSON line %q lacks the trace id (%v)", lines[0], err)
		}
	}
}
