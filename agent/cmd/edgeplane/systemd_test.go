package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/sdnotify/sdnotifytest"
)

const notifyWait = 30 * time.Second

// TestSystemdNotifications runs the binary as systemd would with
// Type=notify and WatchdogSec: NOTIFY_SOCKET and WATCHDOG_USEC point at a
// fake socket.
func TestSystemdNotifications(t *testing.T) {
	sock := sdnotifytest.Listen(t)
	t.Setenv("NOTIFY_SOCKET", sock.Path)
	t.Setenv("WATCHDOG_USEC", "400000") // pings every 200ms
	p := startAgent(t, "-dev")

	if msgs := sock.WaitFor(notifyWait, func(m string) bool { return sdnotifytest.Has(m, "READY=1") }); len(msgs) != 1 {
		t.Fatalf("notifications before READY=1: %q", msgs)
	}
	for range 3 {
		sock.WaitFor(notifyWait, func(m string) bool { return m == "WATCHDOG=1\n" })
	}

	// SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1 (pings may
	// come between).
	p.cmd.Process.Signal(syscall.SIGHUP)
	msgs := sock.WaitFor(notifyWait, func(m string) bool { return sdnotifytest.Has(m, "READY=1") })
	reloading := false
	for _, m := range msgs {
		if sdnotifytest.Has(m, "RELOADING=1") {
			_, hasTime := sdnotifytest.Value(m, "MONOTONIC_USEC")
			reloading = hasTime
		}
	}
	if !reloading {
		t.Fatalf("no RELOADING=1 with MONOTONIC_USEC before READY=1: %q", msgs)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	sock.WaitFor(notifyWait, func(m string) bool { return sdnotifytest.Has(m, "STOPPING=1") })
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d", code)
	}
}

// countLog waits until at least n log lines contain s.
func (p *agentProc) countLog(s string, n int) {
	p.t.Helper()
	testutil.Eventually(p.t, 30*time.Second, func() error {
		if strings.Count(p.log(), s) >= n {
			return nil
		}
		select {
		case <-p.done:
			p.t.Fatalf("agent exited before logging %q %d times", s, n)
		default:
		}
		return fmt.Errorf("agent did not log %q %d times", s, n)
	})
}

// lineWith returns the last log line containing s.
func (p *agentProc) lineWith(s string) string {
	lines := strings.Split(p.log(), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], s) {
			return lines[i]
		}
	}
	return ""
}

func TestSIGHUPReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "edgeplane.yaml")
	write := func(yaml string) {
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, _, code := run(t, "", "reload", "-h"); code != 0 || !strings.Contains(out, "Usage: edgeplane reload") {
		t.Fatalf("reload -h = %d %q", code, out)
	}
	write("log_level: info\n")
	p := startAgent(t, "-config-file", file, "-data-dir", filepath.Join(dir, "data"))
	const debugLine = `"level":"DEBUG"`
	const inEffect = `"msg":"configuration in effect"`

	// A changed log level is applied: debug lines appear after the reload,
	// none before it.
	write("log_level: debug\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.countLog(inEffect, 1)
	log := p.log()
	reloaded := strings.Index(log, `"msg":"configuration reloaded"`)
	if reloaded < 0 || strings.Contains(log[:reloaded], debugLine) {
		t.Fatalf("debug lines before the reload, or no reload line:\n%s", log)
	}
	if line := p.lineWith(inEffect); !strings.Contains(line, debugLine) || !strings.Contains(line, `"log_level":"debug"`) {
		t.Fatalf("after the reload: %s", line)
	}

	// A broken configuration is rejected with the reason, and the running
	// one kept: the agent still serves, still at debug level.
	write("log_level: loud\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.countLog(inEffect, 2)
	rejected := p.lineWith("configuration reload rejected")
	for _, want := range []string{"edgeplane.yaml:1", "log_level", "loud"} {
		if !strings.Contains(rejected, want) {
			t.Errorf("rejection %q does not say %q", rejected, want)
		}
	}
	if line := p.lineWith(inEffect); !strings.Contains(line, `"log_level":"debug"`) {
		t.Fatalf("after a rejected reload: %s", line)
	}
	if _, errOut, code := p.cli(t, "kv", "put", "k", "v"); code != 0 {
		t.Fatalf("kv put after a rejected reload: %s", errOut)
	}

	// edgeplane reload answers with the same verdicts.
	_, errOut, code := p.cli(t, "reload")
	if code == 0 || !strings.Contains(errOut, "edgeplane.yaml:1") || !strings.Contains(errOut, "running configuration kept") {
		t.Fatalf("edgeplane reload of a broken config = %d %s", code, errOut)
	}
	write("log_level: debug\nsite: shop-2\n")
	out, errOut, code := p.cli(t, "reload")
	if code != 0 || !strings.Contains(out, "needing a restart: site\n") {
		t.Fatalf("edgeplane reload = %d %q %s", code, out, errOut)
	}
	write("log_level: warn\nsite: shop-2\n")
	out, _, _ = p.cli(t, "reload")
	if !strings.Contains(out, "Applied: log_level\n") {
		t.Fatalf("edgeplane reload = %q", out)
	}
	write("log_level: warn\nsite: shop-2\n") // unchanged: only site still waits
	if out, _, _ = p.cli(t, "reload"); !strings.HasSuffix(out, "Configuration reload triggered\nChanged but needing a restart: site\n") {
		t.Fatalf("edgeplane reload of an unchanged file = %q", out)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d", code)
	}
}

// TestSIGHUPJoinsNewSeeds: an agent started alone, with no seed, joins
// the seeds a reload adds to its configuration at once, without a
// restart.
func TestSIGHUPJoinsNewSeeds(t *testing.T) {
	seed := startAgent(t, "-node", "seed", "-data-dir", t.TempDir())
	dir := t.TempDir()
	file := filepath.Join(dir, "edgeplane.yaml")
	if err := os.WriteFile(file, []byte("log_level: info\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lonely := startAgent(t, "-node", "lonely", "-data-dir", filepath.Join(dir, "data"), "-config-file", file)
	if out, _, _ := lonely.cli(t, "members"); strings.Contains(out, "seed") {
		t.Fatalf("the lonely agent already knows the seed:\n%s", out)
	}

	if err := os.WriteFile(file, []byte("log_level: info\nretry_join: ["+seed.gossipAddr+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lonely.cmd.Process.Signal(syscall.SIGHUP)
	lonely.waitLog(`"applied":["retry_join"]`)
	for _, p := range []*agentProc{lonely, seed} {
		testutil.Eventually(t, 30*time.Second, func() error {
			out, errOut, code := p.cli(t, "members")
			if code != 0 || !strings.Contains(out, "seed ") || !strings.Contains(out, "lonely ") || strings.Count(out, "alive") != 2 {
				return fmt.Errorf("members = %d %q %s", code, out, errOut)
			}
			return nil
		})
	}
}
