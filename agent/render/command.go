package render

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/edgeplane/edgeplane/agent/command"
)

// ErrTimeout reports a command killed at its timeout.
var ErrTimeout = command.ErrTimeout

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

// Run runs args with the agent's command runner (package command): no
// shell unless args name one, a process group of its own killed whole
// when timeout passes or ctx ends, no NOTIFY_SOCKET. It returns the
// output, its last command.MaxOutput bytes, and a *CommandError when the
// command could not start, failed or timed out.
func Run(ctx context.Context, args []string, timeout time.Duration) (string, error) {
	if len(args) == 0 {
		return "", nil
	}
	res := command.Run(ctx, command.Command{Args: args, Timeout: timeout})
	out := res.OutputString()
	if res.Err != nil {
		return out, &CommandError{Args: args, Output: out, Err: res.Err}
	}
	return out, nil
}
