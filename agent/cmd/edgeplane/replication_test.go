package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

// waitValue polls `edgeplane kv get` on p until it prints want (or, for
// want == "", until the key is gone).
func waitValue(t *testing.T, p *agentProc, key, want string) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() error {
		out, _, code := p.cli(t, "kv", "get", key)
		if (want == "" && code != 0) || (want != "" && code == 0 && out == want+"\n") {
			return nil
		}
		return fmt.Errorf("%s: %s = %q (exit %d), want %q", p.httpAddr, key, out, code, want)
	})
}

// TestWritesReachEveryAgent runs three real agents over loopback gossip and
// QUIC: a small write, a large one (pushed over RPC), a delete and a
// blocking query on another node all see each other's writes.
func TestWritesReachEveryAgent(t *testing.T) {
	seed := startAgent(t, "-dev", "-node", "seed")
	a := startAgent(t, "-dev", "-node", "a", "-retry-interval", "100ms", "-join", seed.gossipAddr)
	b := startAgent(t, "-dev", "-node", "b", "-retry-interval", "100ms", "-join", seed.gossipAddr)
	for _, p := range []*agentProc{seed, a, b} {
		for _, n := range []string{"seed", "a", "b"} {
			if p != seed || n != "seed" {
				waitMembers(t, p, n, "alive")
			}
		}
	}

	// A blocking query on b, opened before the write on a.
	resp, err := http.Get(b.url("/v1/kv/app/timeout"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	index := resp.Header.Get("X-Consul-Index")
	woke := make(chan string, 1)
	go func() {
		resp, err := http.Get(b.url("/v1/kv/app/timeout?raw&wait=30s&index=" + index))
		if err != nil {
			woke <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		woke <- string(body)
	}()

	if _, errOut, code := a.cli(t, "kv", "put", "app/timeout", "3s"); code != 0 {
		t.Fatalf("put: %s", errOut)
	}
	for _, p := range []*agentProc{seed, b} {
		waitValue(t, p, "app/timeout", "3s")
	}
	select {
	case got := <-woke:
		if got != "3s" {
			t.Fatalf("blocking query on b woke with %q", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("blocking query on b did not wake for a write on a")
	}

	big := strings.Repeat("x", 4000) // too large for gossip: pushed over RPC
	if _, errOut, code := b.cli(t, "kv", "put", "app/big", big); code != 0 {
		t.Fatalf("put big: %s", errOut)
	}
	for _, p := range []*agentProc{seed, a} {
		waitValue(t, p, "app/big", big)
	}

	if _, errOut, code := seed.cli(t, "kv", "delete", "app/timeout"); code != 0 {
		t.Fatalf("delete: %s", errOut)
	}
	for _, p := range []*agentProc{a, b} {
		waitValue(t, p, "app/timeout", "")
	}

	// Each node shows its anti-entropy peers, with their breakers.
	var repl struct {
		Local map[string]string
		Peers []struct{ Node, LastResult, Breaker, DigestRoot string }
	}
	getJSON(t, a.url("/v1/edgeplane/replication"), &repl)
	if repl.Local["digest_root"] == "" || len(repl.Peers) == 0 || repl.Peers[0].Breaker != "closed" || repl.Peers[0].LastResult == "" {
		t.Fatalf("/v1/edgeplane/replication = %+v", repl)
	}
	for _, p := range repl.Peers {
		if (p.LastResult == "equal" || p.LastResult == "repaired") && p.DigestRoot == "" {
			t.Fatalf("peer %s synced without its digest root: %+v", p.Node, p)
		}
	}
	if out, _, _ := a.cli(t, "info"); !strings.Contains(out, "replication peers:") {
		t.Fatalf("info lacks the replication peers:\n%s", out)
	}

	// Concurrent writes to one key: the later stamp wins everywhere.
	for i, p := range []*agentProc{a, b, seed} {
		p.cli(t, "kv", "put", "app/race", fmt.Sprint("v", i))
	}
	for _, p := range []*agentProc{seed, a, b} {
		waitValue(t, p, "app/race", "v2")
	}
}
