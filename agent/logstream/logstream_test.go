package logstream

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

func newHub(level slog.Level) (*Hub, *testutil.SyncBuffer) {
	out := &testutil.SyncBuffer{}
	return New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level})), out
}

func next(t *testing.T, st *Stream) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	line, err := st.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return string(line)
}

// TestStreamLevelIsItsOwn: a debug stream gets debug lines while the
// agent's own output stays at info; an error stream gets only errors.
func TestStreamLevelIsItsOwn(t *testing.T) {
	hub, out := newHub(slog.LevelInfo)
	log := slog.New(hub).With("component", "gossip").WithGroup("g")
	debug := hub.Subscribe(slog.LevelDebug, false, 0)
	defer debug.Close()
	errs := hub.Subscribe(slog.LevelError, true, 0)
	defer errs.Close()

	log.Debug("probe", "node", "b")
	log.Error("refused", "node", "c")

	if s := out.String(); strings.Contains(s, "probe") || !strings.Contains(s, "refused") {
		t.Fatalf("the agent's own output at info: %q", s)
	}
	if l := next(t, debug); !strings.Contains(l, "level=DEBUG") || !strings.Contains(l, "component=gossip") || !strings.Contains(l, "g.node=b") {
		t.Fatalf("debug stream's first line %q", l)
	}
	if l := next(t, debug); !strings.Contains(l, "refused") {
		t.Fatalf("debug stream's second line %q", l)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(next(t, errs)), &rec); err != nil || rec["msg"] != "refused" || rec["component"] != "gossip" {
		t.Fatalf("error stream's line %v, %v", rec, err)
	}
}

// TestNoStreamNoCost: without streams, debug records are not even built.
func TestNoStreamNoCost(t *testing.T) {
	hub, _ := newHub(slog.LevelInfo)
	if hub.Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("debug enabled with no stream")
	}
	st := hub.Subscribe(slog.LevelDebug, false, 0)
	if !hub.Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("debug not enabled for a debug stream")
	}
	st.Close()
	if hub.Enabled(context.Background(), slog.LevelDebug) || hub.Streams() != 0 {
		t.Fatal("debug still enabled after the stream closed")
	}
	if _, err := st.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

// TestSlowReaderLosesLinesNotTime: a reader that does not read makes the
// writer drop lines, never wait; it then learns how many it lost.
func TestSlowReaderLosesLinesNotTime(t *testing.T) {
	hub, _ := newHub(slog.LevelInfo)
	log := slog.New(hub)
	st := hub.Subscribe(slog.LevelInfo, false, 4)
	defer st.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			log.Info("line", "i", i)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer waited for the stalled reader")
	}
	if got := hub.Dropped(); got != 96 {
		t.Fatalf("dropped %d, want 96", got)
	}
	if l := next(t, st); !strings.Contains(l, "dropped 96 log lines") {
		t.Fatalf("first line after the stall %q, want the drop marker", l)
	}
	if l := next(t, st); !strings.Contains(l, "i=0") {
		t.Fatalf("then %q, want the oldest line kept", l)
	}
}
