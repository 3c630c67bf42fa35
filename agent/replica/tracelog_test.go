package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/transport"
)

// TestHandlerLinesCarryTraceID: a line the push handler logs while
// serving a traced call carries the call's trace id.
func TestHandlerLinesCarryTraceID(t *testing.T) {
	s := newSimNet(t, 9, 1)
	n := s.nodes["n0"]
	var buf bytes.Buffer
	n.r.cfg.Log = slog.New(transport.TraceLog(slog.NewJSONHandler(&buf, nil)))
	tp, _ := transport.ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	ahead := store.MakeStamp(uint64(n.now.Add(3*time.Hour).UnixMilli()), 0)
	resp, _ := n.r.HandlePush(transport.ContextWithTraceparent(context.Background(), tp),
		&Delta{Records: []Record{{Key: "k", Value: []byte("future"), Version: uint64(ahead), Origin: "n1"}}})
	if resp.Rejected != 1 {
		t.Fatalf("push of a record ahead: %+v", resp)
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	if line["trace_id"] != tp.TraceIDString() {
		t.Fatalf("the handler's line lacks the trace id: %s", buf.Bytes())
	}
}
