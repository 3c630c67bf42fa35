package command

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

func TestRunPassesStdinEnvAndArgs(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	res := Run(t.Context(), Command{
		Args:  []string{"/bin/sh", "-c", `cat; echo "[$1][$EXTRA][${NOTIFY_SOCKET-unset}]"`, "sh", "a b"},
		Env:   []string{"EXTRA=x"},
		Stdin: []byte("in\n"),
	})
	if res.Err != nil || res.ExitCode != 0 {
		t.Fatalf("run: %v (exit %d) %q", res.Err, res.ExitCode, res.Output)
	}
	if got, want := string(res.Output), "in\n[a b][x][unset]\n"; got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
}

func TestRunShell(t *testing.T) {
	res := Run(t.Context(), Command{Shell: "echo one; exit 3"})
	var ee *exec.ExitError
	if !errors.As(res.Err, &ee) || res.ExitCode != 3 || string(res.Output) != "one\n" {
		t.Fatalf("got %v exit %d %q", res.Err, res.ExitCode, res.Output)
	}
	if res := Run(t.Context(), Command{}); !errors.Is(res.Err, ErrNoCommand) {
		t.Fatalf("empty command: %v", res.Err)
	}
	if res := Run(t.Context(), Command{Args: []string{filepath.Join(t.TempDir(), "missing")}}); res.Err == nil || res.ExitCode != -1 {
		t.Fatalf("missing program: %v exit %d", res.Err, res.ExitCode)
	}
}

func TestRunKeepsTheLastOutput(t *testing.T) {
	res := Run(t.Context(), Command{Shell: "head -c 10000 /dev/zero | tr '\\0' a; printf END"})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(res.Output) != MaxOutput || res.Written != 10003 || !bytes.HasSuffix(res.Output, []byte("aaaEND")) {
		t.Fatalf("kept %d of %d bytes, ending %q", len(res.Output), res.Written, res.Output[len(res.Output)-6:])
	}
	if s := res.OutputString(); !strings.HasPrefix(s, "Captured 4096 of 10003 bytes\n...\naaa") || len(s) != MaxOutput || !strings.HasSuffix(s, "aaaEND") {
		t.Fatalf("output string of %d bytes starts %q", len(s), s[:40])
	}
}

// A command past its timeout is killed with every process of its group:
// the child it left in the background is gone too.
func TestRunTimeoutKillsTheProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	res := Run(t.Context(), Command{
		Args:    []string{"/bin/sh", "-c", `sleep 300 & echo $! > "$1"; echo started; wait`, "sh", pidFile},
		Timeout: 200 * time.Millisecond,
	})
	if !errors.Is(res.Err, ErrTimeout) || res.ExitCode != -1 {
		t.Fatalf("got %v exit %d, want a timeout", res.Err, res.ExitCode)
	}
	if string(res.Output) != "started\n" {
		t.Fatalf("output %q", res.Output)
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if err := syscall.Kill(pid, 0); err == nil {
			if state, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); bytes.Contains(state, []byte(") Z ")) {
				return nil // a zombie waiting for its reaper: dead
			}
			return errors.New("the handler's child still runs")
		}
		return nil
	})
}

func TestRunStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan Result, 1)
	go func() { done <- Run(ctx, Command{Shell: "echo up; exec sleep 300"}) }()
	// The command is up once it has printed; nothing to read it from but
	// the result, so cancel at once: the kill works whenever it lands.
	cancel()
	select {
	case res := <-done:
		if !errors.Is(res.Err, ErrStopped) {
			t.Fatalf("got %v, want stopped", res.Err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
