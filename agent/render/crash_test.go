package render

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// crashChildEnv, set to a directory, makes the test binary the crash
// test's child: it renders versions into that directory until killed.
const crashChildEnv = "EDGEPLANE_RENDER_CRASH_CHILD"

// crashVersion is the content of version i: big enough that a write
// takes several system calls, and self-describing, so that any complete
// version is recognised and any torn one is not.
func crashVersion(i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "version %d\n", i)
	b.Write(bytes.Repeat([]byte{byte('a' + i%26)}, 64<<10+i%4096))
	fmt.Fprintf(&b, "\nend %d\n", i)
	return b.Bytes()
}

// crashVersionOf returns the version content holds, if it is a complete
// one.
func crashVersionOf(content []byte) (int, bool) {
	line, _, ok := bytes.Cut(content, []byte("\n"))
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(strings.TrimPrefix(string(line), "version "))
	if err != nil || i < 0 {
		return 0, false
	}
	return i, bytes.Equal(content, crashVersion(i))
}

// crashChild applies versions in turn, from the one the destination
// holds, each third reload failing (so the previous file is put back);
// it says "ready" once it applied one, and runs until it is killed.
func crashChild(dir string) {
	dest := filepath.Join(dir, "app.conf")
	n := 0
	if b, err := os.ReadFile(dest); err == nil {
		if i, ok := crashVersionOf(b); ok {
			n = i + 1
		}
	}
	ap := &applier{spec: Spec{Destination: dest, Reload: []string{"reload"}}.withDefaults(), pause: func(context.Context) error { return nil }}
	ap.run = func(_ context.Context, args []string, _ time.Duration) (string, error) {
		b, _ := os.ReadFile(dest)
		if i, _ := crashVersionOf(b); i%3 == 2 {
			return "", errors.New("reload refused")
		}
		return "", nil
	}
	for i := n; i < n+100000; i++ {
		if _, err := ap.apply(context.Background(), crashVersion(i)); err != nil {
			var se *StageError
			if !errors.As(err, &se) || !se.RolledBack {
				fmt.Fprintln(os.Stderr, "apply:", err)
				os.Exit(2)
			}
		}
		if i == n {
			fmt.Println("ready")
		}
	}
	os.Exit(0)
}

// Killing the agent at random moments while it renders leaves the
// destination holding one complete version, never a torn one, and no
// more than one temporary file beside it.
func TestCrashLeavesCompleteFile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("EDGEPLANE_RENDER_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (EDGEPLANE_RENDER_CRASH_SEED=%d reruns it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	dir := t.TempDir()
	dest := filepath.Join(dir, "app.conf")
	last := -1
	for round := range 12 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan bool, 1)
		go func() { ready <- bufio.NewScanner(stdout).Scan() }()
		select {
		case ok := <-ready:
			if !ok {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: the child ended before applying: %s", round, stderr.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: the child never applied", round)
		}
		// The fault: a kill at a random moment of the child's renders.
		<-time.After(time.Duration(rng.Int64N(int64(40 * time.Millisecond))))
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		b, err := os.ReadFile(dest)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		i, ok := crashVersionOf(b)
		if !ok {
			t.Fatalf("round %d (seed %d): the destination holds a torn file of %d bytes", round, seed, len(b))
		}
		if i < last {
			t.Fatalf("round %d: version %d after %d", round, i, last)
		}
		last = i
		if tmps, _ := filepath.Glob(filepath.Join(dir, tempPattern("app.conf"))); len(tmps) > 1 {
			t.Fatalf("round %d: temporary files pile up: %v", round, tmps)
		}
	}
	t.Logf("last version applied: %d", last)
}
