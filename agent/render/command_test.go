package render

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Run keeps the first MaxCommandOutput bytes of a command's output.
func TestRunBoundsOutput(t *testing.T) {
	out, err := Run(context.Background(), []string{"sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x; echo oops >&2; exit 3"}, 10*time.Second)
	var ce *CommandError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("error %v", err)
	}
	if len(out) > MaxCommandOutput+len("…") || !strings.HasPrefix(out, "xxxx") {
		t.Fatalf("output of %d bytes", len(out))
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

// Commands run without a shell, and without NOTIFY_SOCKET.
func TestRunEnvironmentAndArguments(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	t.Setenv("EDGEPLANE_RENDER_TEST", "kept")
	out, err := Run(context.Background(), []string{"sh", "-c", `echo "${NOTIFY_SOCKET-unset} $EDGEPLANE_RENDER_TEST $0"`, "a b;c"}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out); got != "unset kept a b;c" {
		t.Fatalf("output %q", got)
	}
	if _, err := Run(context.Background(), []string{"/nonexistent/program"}, time.Second); err == nil {
		t.Fatal("a missing program ran")
	}
}
