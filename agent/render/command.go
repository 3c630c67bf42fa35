package render

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MaxCommandOutput bounds the output of check and reload kept for the
// status: stdout and stderr together, the first bytes.
const MaxCommandOutput = 4 << 10

// ErrTimeout reports a command killed at its timeout.
var ErrTimeout = errors.New("render: command timed out")

// CommandError is a check or reload that failed: its output, and why.
type CommandError struct {
	Args   []string
	Output string
	Err    error
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("%s: %v", strings.Join(e.Args, " "), e.Err)
	if out := strings.TrimSpace(e.Output); out != "" {
		msg += ": " + out
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }

// boundedBuffer keeps the first limit bytes written to it.
type boundedBuffer struct {
	mu    sync.Mutex
	b     []byte
	limit int
	lost  bool
}

func (w *boundedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if room := w.limit - len(w.b); n > room {
		w.lost = true
		p = p[:max(room, 0)]
	}
	w.b = append(w.b, p...)
	return n, nil
}

func (w *boundedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lost {
		return string(w.b) + "…"
	}
	return string(w.b)
}

// commandEnv is the agent's environment without NOTIFY_SOCKET, so that a
// command cannot speak to systemd as the agent.
func commandEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			env = append(env, kv)
		}
	}
	return env
}

// Run runs args (no shell: a shell only when args name one), in a process
// group of its own that is killed whole when timeout passes or ctx ends.
// It returns the output, at most MaxCommandOutput bytes, and a
// *CommandError when the command could not start, failed or timed out.
func Run(ctx context.Context, args []string, timeout time.Duration) (string, error) {
	if len(args) == 0 {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := &boundedBuffer{limit: MaxCommandOutput}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = commandEnv()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Children that keep the output pipes open do not hold Wait past
	// this once the group was killed.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err == nil {
		return out.String(), nil
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w after %v", ErrTimeout, timeout)
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = ctx.Err()
		}
	}
	return out.String(), &CommandError{Args: args, Output: out.String(), Err: err}
}
