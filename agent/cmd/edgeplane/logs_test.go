package main

import (
	"encoding/json"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestHealthyMeshLogsNoWarnings runs a healthy three-node mesh in pinned
// trust mode (an encrypt key) through its ordinary life: start, join,
// writes, a graceful restart of one node (rejoining through its saved
// peers), writes again, and a stop of every node, the last two together.
// Nothing in that needs an operator, so no node may log a line at WARN or
// ERROR.
func TestHealthyMeshLogsNoWarnings(t *testing.T) {
	key := strings.TrimSpace(mustRun(t, "keygen"))
	dirs := map[string]string{"seed": t.TempDir(), "a": t.TempDir(), "b": t.TempDir()}
	args := func(node string, extra ...string) []string {
		return append([]string{"-node", node, "-data-dir", dirs[node], "-encrypt", key, "-retry-interval", "100ms"}, extra...)
	}
	seed := startAgent(t, args("seed")...)
	a := startAgent(t, args("a", "-join", seed.gossipAddr)...)
	b := startAgent(t, args("b", "-join", seed.gossipAddr)...)
	procs := []*agentProc{seed, a, b}
	waitAllAlive := func(procs []*agentProc) {
		t.Helper()
		for _, p := range procs {
			for _, n := range []string{"seed", "a", "b"} {
				waitMembers(t, p, n, "alive")
			}
		}
	}
	waitAllAlive(procs)
	mustCLI(t, a, "kv", "put", "app/one", "1")
	mustCLI(t, b, "kv", "put", "app/big", strings.Repeat("x", 4096)) // pushed over RPC
	for _, p := range procs {
		waitValue(t, p, "app/one", "1")
		waitValue(t, p, "app/big", strings.Repeat("x", 4096))
	}

	// A graceful restart on the same ports, as a service restarts; the
	// node rejoins through the peers it saved. The peers hold the earlier
	// run's state until the new run refutes it.
	b.cmd.Process.Signal(syscall.SIGTERM)
	if code := b.wait(); code != 0 {
		t.Fatalf("b exited %d", code)
	}
	waitMembers(t, seed, "b", "left")
	b2 := startAgent(t, args("b", "-gossip-port", port(b.gossipAddr), "-rpc-port", port(b.rpcAddr()))...)
	procs = append(procs, b2)
	waitAllAlive([]*agentProc{seed, a, b2})
	mustCLI(t, b2, "kv", "put", "app/two", "2")
	mustCLI(t, seed, "kv", "put", "app/three", "3")
	for _, p := range []*agentProc{seed, a, b2} {
		waitValue(t, p, "app/two", "2")
		waitValue(t, p, "app/three", "3")
	}
	// Every node calls every other one over RPC, the restarted node
	// included, at once: a refused certificate would be logged.
	for _, p := range []*agentProc{seed, a, b2} {
		for _, to := range []string{"seed", "a", "b"} {
			if p == seed && to == "seed" || p == a && to == "a" || p == b2 && to == "b" {
				continue
			}
			if out, errOut, code := p.cli(t, "rpc", "ping", to); code != 0 || !rttLine.MatchString(out) {
				t.Fatalf("rpc ping %s = %d %q %s", to, code, out, errOut)
			}
		}
	}

	// Joining nodes put anti-entropy off while they pull their snapshot:
	// deferred, never refused, in a healthy mesh.
	for _, p := range []*agentProc{seed, a, b2} {
		var self struct{ Stats map[string]map[string]string }
		getJSON(t, p.url("/v1/agent/self"), &self)
		repl := self.Stats["replication"]
		if repl["sync_refused"] != "0" || repl["sync_deferred"] == "" {
			t.Errorf("%s: sync_refused %q, sync_deferred %q; want 0 refused and a deferred count", p.httpAddr, repl["sync_refused"], repl["sync_deferred"])
		}
		info, _, _ := p.cli(t, "info")
		if !strings.Contains(info, "sync_deferred = ") {
			t.Errorf("edgeplane info shows no sync_deferred:\n%s", info)
		}
	}

	// Stop one, then the last two together: each leaves the mesh.
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(); code != 0 {
		t.Fatalf("a exited %d", code)
	}
	seed.cmd.Process.Signal(syscall.SIGTERM)
	b2.cmd.Process.Signal(syscall.SIGTERM)
	var wg sync.WaitGroup
	for _, p := range []*agentProc{seed, b2} {
		wg.Go(func() {
			if code := p.wait(); code != 0 {
				t.Errorf("%s exited %d", p.httpAddr, code)
			}
		})
	}
	wg.Wait()

	for _, p := range procs {
		if bad := warnings(p.log()); len(bad) > 0 {
			t.Errorf("agent %s logged at WARN or above:\n%s", p.httpAddr, strings.Join(bad, "\n"))
		}
	}
}

// warnings returns the JSON log lines at WARN or ERROR.
func warnings(log string) []string {
	var bad []string
	for _, line := range strings.Split(log, "\n") {
		var rec struct{ Level string }
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if rec.Level == "WARN" || rec.Level == "ERROR" {
			bad = append(bad, line)
		}
	}
	return bad
}

func port(addr string) string {
	_, p, _ := strings.Cut(addr, ":")
	return p
}

// rpcAddr returns the RPC address the agent logged at start.
func (p *agentProc) rpcAddr() string {
	for _, line := range strings.Split(p.log(), "\n") {
		var rec struct {
			Msg     string
			RPCAddr string `json:"rpc_addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "agent started" {
			return rec.RPCAddr
		}
	}
	p.t.Fatalf("no rpc_addr in the log")
	return ""
}
