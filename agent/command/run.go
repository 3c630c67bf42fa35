package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxOutput is how many bytes of a command's output a Result keeps: the
// last ones written.
const MaxOutput = 4 << 10

// WaitDelay bounds the wait for a command's output once it has exited
// or been killed, should a process it started outside its group hold the
// pipe.
const WaitDelay = 5 * time.Second

// DefaultTimeout is the Timeout of a Command that sets none.
const DefaultTimeout = 30 * time.Second

// shellPath is the shell Command.Shell runs in.
const shellPath = "/bin/sh"

// Errors a Result may hold, for errors.Is.
var (
	// ErrTimeout: the command ran past its Timeout and its process group
	// was killed.
	ErrTimeout = errors.New("command: timed out")
	// ErrStopped: the context Run was given ended, and the command's
	// process group was killed.
	ErrStopped = errors.New("command: stopped")
	// ErrNoCommand: the Command has neither Args nor Shell.
	ErrNoCommand = errors.New("command: no command given")
)

// Command is a program to run.
type Command struct {
	// Args is the program and its arguments, run without a shell.
	Args []string
	// Shell, when Args is empty, is a command line /bin/sh -c runs.
	Shell string
	// Env is added to the agent's environment (NOTIFY_SOCKET removed),
	// each "NAME=value"; a later entry wins over an inherited one.
	Env []string
	// Stdin is what the command reads on its standard input.
	Stdin []byte
	// Timeout bounds the run; zero means DefaultTimeout, a negative one
	// none (the context given to Run bounds it alone).
	Timeout time.Duration
}

// String is the command as a log line shows it.
func (c Command) String() string {
	if len(c.Args) == 0 {
		return c.Shell
	}
	return strings.Join(c.Args, " ")
}

// Result is what a run did.
type Result struct {
	// Err is nil when the command exited with status 0. Otherwise it is
	// an *exec.ExitError (a non-zero status or a signal), or wraps
	// ErrTimeout, ErrStopped or ErrNoCommand, or the reason it could not
	// start.
	Err error
	// ExitCode is the command's exit status, -1 when it did not exit on
	// its own or did not start.
	ExitCode int
	// Output is the last MaxOutput bytes the command wrote to stdout and
	// stderr.
	Output []byte
	// Written counts every byte it wrote to them.
	Written int64
	// Took is how long it ran.
	Took time.Duration
}

// OutputString returns Output within MaxOutput bytes of valid UTF-8:
// when some was dropped, Consul's "Captured <n> of <total> bytes" line
// and the end of the output.
func (r Result) OutputString() string {
	s := strings.ToValidUTF8(string(r.Output), "\uFFFD")
	if r.Written <= int64(len(r.Output)) && len(s) <= MaxOutput {
		return s
	}
	head := fmt.Sprintf("Captured %d of %d bytes\n...\n", len(r.Output), r.Written)
	keep := MaxOutput - len(head)
	if len(s) > keep {
		cut := len(s) - keep
		for cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut++
		}
		s = s[cut:]
	}
	return head + s
}

// Run runs c to its end, in a process group of its own that is killed
// when c.Timeout passes or ctx ends.
func Run(ctx context.Context, c Command) Result {
	var name string
	var args []string
	switch {
	case len(c.Args) > 0:
		name, args = c.Args[0], c.Args[1:]
	case c.Shell != "":
		name, args = shellPath, []string{"-c", c.Shell}
	default:
		return Result{Err: ErrNoCommand, ExitCode: -1}
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		runCtx, cancel = context.WithTimeoutCause(ctx, timeout, ErrTimeout)
	}
	defer cancel()
	cmd := exec.CommandContext(runCtx, name, args...)
	cmd.Env = environ(os.Environ(), c.Env)
	cmd.Stdin = bytes.NewReader(c.Stdin)
	var out tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = WaitDelay
	ownProcessGroup(cmd)
	start := time.Now()
	err := cmd.Run()
	res := Result{Err: err, ExitCode: -1, Output: out.buf, Written: out.total, Took: time.Since(start)}
	if cmd.ProcessState != nil && cmd.ProcessState.Exited() {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	if err != nil && runCtx.Err() != nil {
		switch {
		case ctx.Err() != nil:
			res.Err = fmt.Errorf("%w: %w", ErrStopped, err)
		case errors.Is(context.Cause(runCtx), ErrTimeout):
			res.Err = fmt.Errorf("%w after %v: %w", ErrTimeout, timeout, err)
		}
	}
	return res
}

// environ returns base without NOTIFY_SOCKET, then extra.
func environ(base, extra []string) []string {
	out := make([]string, 0, len(base)+len(extra))
	for _, kv := range base {
		if strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// tailBuffer keeps the last MaxOutput bytes written to it, and counts
// them all.
type tailBuffer struct {
	buf   []byte
	total int64
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.total += int64(len(p))
	if len(p) >= MaxOutput {
		b.buf = append(b.buf[:0], p[len(p)-MaxOutput:]...)
		return len(p), nil
	}
	if over := len(b.buf) + len(p) - MaxOutput; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}
