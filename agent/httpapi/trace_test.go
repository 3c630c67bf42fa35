package httpapi

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/transport"
)

// TestRequestLinesCarryTraceID: the line logged for a request with a
// valid traceparent header carries its trace id; one without, or with a
// malformed header, none.
func TestRequestLinesCarryTraceID(t *testing.T) {
	var buf testutil.SyncBuffer
	log := slog.New(transport.TraceLog(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	srv, _, _ := aclServer(t, false, func(c *Config) { c.Log = log })
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	for _, tc := range []struct{ traceparent, want string }{
		{"00-" + traceID + "-b7ad6b7169203331-01", "trace_id=" + traceID},
		{"00-" + strings.ToUpper(traceID) + "-b7ad6b7169203331-01", ""}, // malformed: upper case
		{"garbage", ""},
		{"", ""},
	} {
		before := len(buf.String())
		req, err := http.NewRequest("GET", srv.URL+"/v1/agent/self", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Consul-Token", "guessed-0123456789")
		if tc.traceparent != "" {
			req.Header.Set("traceparent", tc.traceparent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("unknown token: %d", resp.StatusCode)
		}
		line := buf.String()[before:]
		if !strings.Contains(line, "http api request denied") {
			t.Fatalf("no line for the refusal: %q", line)
		}
		if tc.want != "" && !strings.Contains(line, tc.want) || tc.want == "" && strings.Contains(line, "trace_id") {
			t.Errorf("traceparent %q: line %q, want %q", tc.traceparent, line, tc.want)
		}
	}
}
