package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

// TestThreeAgentsJoinThroughOneSeed runs three real agent processes; two
// join through the first, and `edgeplane members` on each lists all three
// alive.
func TestThreeAgentsJoinThroughOneSeed(t *testing.T) {
	fast := []string{"-dev", "-retry-interval", "100ms"}
	seed := startAgent(t, append(fast, "-node", "seed", "-site", "hq")...)
	a := startAgent(t, append(fast, "-node", "a", "-site", "shop-1", "-join", seed.gossipAddr)...)
	b := startAgent(t, append(fast, "-node", "b", "-site", "shop-2", "-join", seed.gossipAddr)...)

	for _, p := range []*agentProc{seed, a, b} {
		testutil.Eventually(t, 30*time.Second, func() error {
			out, errOut, code := p.cli(t, "members", "-format", "json")
			if code != 0 {
				t.Fatalf("members: %s", errOut)
			}
			var members []struct {
				Name string
				Tags map[string]string
			}
			if err := json.Unmarshal([]byte(out), &members); err != nil {
				t.Fatalf("members -format=json: %v\n%s", err, out)
			}
			alive := 0
			for _, m := range members {
				if m.Tags["status"] == "alive" {
					alive++
				}
			}
			if alive != 3 {
				return fmt.Errorf("members did not list three alive:\n%s", out)
			}
			return nil
		})
		table, _, _ := p.cli(t, "members")
		for _, want := range []string{"seed", "shop-1", "shop-2", "alive"} {
			if !strings.Contains(table, want) {
				t.Fatalf("members table lacks %q:\n%s", want, table)
			}
		}
		if out, _, _ := p.cli(t, "members", "-site", "shop-2"); strings.Count(out, "\n") != 2 {
			t.Fatalf("members -site shop-2:\n%s", out)
		}
	}
}

// waitMembers polls `edgeplane members` on p until node has the status.
func waitMembers(t *testing.T, p *agentProc, node, status string) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() error {
		out, _, _ := p.cli(t, "members", "-status", status)
		if strings.Contains(out, node+" ") {
			return nil
		}
		all, _, _ := p.cli(t, "members")
		return fmt.Errorf("%s did not list %s as %s:\n%s", p.httpAddr, node, status, all)
	})
}

// TestRestartedAgentRejoinsWithoutJoin stops an agent gracefully and
// starts it again on the same data dir with no -join: it rejoins through
// the peers it saved.
func TestRestartedAgentRejoinsWithoutJoin(t *testing.T) {
	seed := startAgent(t, "-dev", "-node", "seed")
	dir := t.TempDir()
	a := startAgent(t, "-node", "a", "-data-dir", dir, "-retry-interval", "100ms", "-join", seed.gossipAddr)
	// Both sides: the seed lists a as soon as a's join reaches it, before
	// a has the seed's answer; a node stopped then has no one to tell.
	waitMembers(t, seed, "a", "alive")
	waitMembers(t, a, "seed", "alive")

	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	waitMembers(t, seed, "a", "left")

	again := startAgent(t, "-node", "a", "-data-dir", dir, "-retry-interval", "100ms")
	waitMembers(t, seed, "a", "alive")
	waitMembers(t, again, "seed", "alive")
}

// TestKilledAgentRejoinsWithoutJoin: an agent killed right after its
// first join, long before the minute at which peers are saved by the
// timer, has its peers file already and rejoins through it when started
// again (on its ports, as a service is) without -join.
func TestKilledAgentRejoinsWithoutJoin(t *testing.T) {
	seed := startAgent(t, "-dev", "-node", "seed")
	dir := t.TempDir()
	a := startAgent(t, "-node", "a", "-data-dir", dir, "-retry-interval", "100ms", "-join", seed.gossipAddr)
	a.waitLog("joined the mesh")
	saved, err := os.ReadFile(filepath.Join(dir, "peers.json"))
	if err != nil || !strings.Contains(string(saved), seed.gossipAddr) {
		t.Fatalf("peers file right after the join = %q, %v; want the seed %s", saved, err, seed.gossipAddr)
	}

	a.cmd.Process.Kill()
	a.wait()
	again := startAgent(t, "-node", "a", "-data-dir", dir, "-retry-interval", "100ms",
		"-gossip-port", port(a.gossipAddr), "-rpc-port", port(a.rpcAddr()))
	again.waitLog("rejoining through peers saved in the data dir")
	waitMembers(t, again, "seed", "alive")
	waitMembers(t, seed, "a", "alive")
}

// TestJoinAndLeaveCommands drives membership from the CLI: join a running
// agent to a seed, then make it leave (it shuts down), and see it left.
func TestJoinAndLeaveCommands(t *testing.T) {
	seed := startAgent(t, "-dev", "-node", "seed")
	b := startAgent(t, "-dev", "-node", "b")
	if out, errOut, code := b.cli(t, "join", seed.gossipAddr); code != 0 || !strings.Contains(out, "contacting 1 nodes") {
		t.Fatalf("join = %d %q %s", code, out, errOut)
	}
	waitMembers(t, seed, "b", "alive")
	if _, errOut, code := b.cli(t, "join", "127.0.0.1:1"); code == 0 {
		t.Fatalf("join of a dead address exited 0: %s", errOut)
	}
	// A name that cannot resolve is the caller's mistake: 400. (Go refuses
	// it as a domain name without asking a name server.)
	if _, errOut, code := b.cli(t, "join", "bad_host!:7946"); code == 0 || !strings.Contains(errOut, "400") || !strings.Contains(errOut, "does not resolve") {
		t.Fatalf("join of an unresolvable address = %d %s", code, errOut)
	}
	if out, errOut, code := b.cli(t, "leave"); code != 0 || !strings.Contains(out, "Graceful leave complete") {
		t.Fatalf("leave = %d %q %s", code, out, errOut)
	}
	if code := b.wait(); code != 0 {
		t.Fatalf("agent exited %d after leave", code)
	}
	waitMembers(t, seed, "b", "left")
	if _, errOut, code := seed.cli(t, "force-leave", "seed"); code == 0 {
		t.Fatalf("force-leave of a live node exited 0: %s", errOut)
	}
}
