package render

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/command"
)

// Run keeps the end of a command's output, where its error is, within
// command.MaxOutput bytes, and reports the failure as a *CommandError.
func TestRunBoundsOutput(t *testing.T) {
	out, err := Run(context.Background(), []string{"sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x; echo oops >&2; exit 3"}, 10*time.Second)
	var ce *CommandError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("error %v", err)
	}
	if len(out) > command.MaxOutput || !strings.HasSuffix(strings.TrimSpace(out), "xoops") {
		t.Fatalf("output of %d bytes ending %q", len(out), out[max(0, len(out)-20):])
	}
}

// A command that outlives its timeout is killed with its whole process
// group, children included.
func TestRunKillsGroupAtTimeout(t *testing.T) {
	start := time.Now()
	_, err := Run(context.Background(), []string{"sh", "-c", "sleep 60 & sleep 60; echo done"}, 200*time.Millisecond)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("error %v, want a timeout", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatal("Run waited for the children")
	}
}
