package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

var rttLine = regexp.MustCompile(`^(\S+) \((127\.0\.0\.1:\d+)\): seq=1 rtt=\S+\n$`)

// TestRPCPingInEveryTrustMode runs pairs of real agents in each trust
// mode and pings across them with `edgeplane rpc ping`.
func TestRPCPingInEveryTrustMode(t *testing.T) {
	key := strings.TrimSpace(mustRun(t, "keygen"))
	pki := t.TempDir()
	mustRun(t, "tls", "ca", "create", "-dir", pki)
	for _, n := range []string{"seed", "a"} {
		mustRun(t, "tls", "cert", "create", "-node", n, "-ca-dir", pki, "-dir", pki)
	}
	keyFile := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fleet := func(node string) []string {
		return []string{"-tls-ca-file", filepath.Join(pki, "ca.pem"),
			"-tls-cert-file", filepath.Join(pki, node+".pem"), "-tls-key-file", filepath.Join(pki, node+"-key.pem")}
	}
	tests := []struct {
		name       string
		seed, peer []string
		trust      string
	}{
		{"pinned, plain gossip", nil, nil, "pinned-unauthenticated"},
		{"pinned, encrypted gossip", []string{"-encrypt", key}, []string{"-encrypt", key}, "pinned"},
		{"pinned, gossip key from a file", []string{"-encrypt-file", keyFile}, []string{"-encrypt", key}, "pinned"},
		{"fleet CA", fleet("seed"), fleet("a"), "fleet-ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seed := startAgent(t, append([]string{"-dev", "-node", "seed"}, tt.seed...)...)
			a := startAgent(t, append([]string{"-dev", "-node", "a", "-retry-interval", "100ms", "-join", seed.gossipAddr}, tt.peer...)...)
			waitMembers(t, a, "seed", "alive")
			waitMembers(t, seed, "a", "alive")

			for _, p := range []struct {
				from *agentProc
				to   string
			}{{a, "seed"}, {seed, "a"}} {
				out, errOut, code := p.from.cli(t, "rpc", "ping", p.to)
				if code != 0 || !rttLine.MatchString(out) {
					t.Fatalf("rpc ping %s = %d %q %s", p.to, code, out, errOut)
				}
			}
			var self struct {
				Config map[string]any
				Stats  map[string]map[string]string
			}
			getJSON(t, seed.url("/v1/agent/self"), &self)
			if addr, _ := self.Config["RPCAddr"].(string); !strings.HasPrefix(addr, "127.0.0.1:") {
				t.Fatalf("/v1/agent/self RPCAddr = %v", self.Config["RPCAddr"])
			}
			if got := self.Stats["rpc"]["trust"]; got != tt.trust {
				t.Fatalf("trust mode %q, want %s", got, tt.trust)
			}
			if _, errOut, code := a.cli(t, "rpc", "ping", "nobody"); code == 0 || !strings.Contains(errOut, "404") {
				t.Fatalf("ping of an unknown node = %d %s", code, errOut)
			}
			out, errOut, code := seed.cli(t, "keyring", "-list")
			if tt.seed != nil && strings.HasPrefix(tt.seed[0], "-encrypt") {
				if code != 0 || strings.Count(out, key) != 4 { // in use and installed, on each node
					t.Fatalf("keyring -list = %d %q %s", code, out, errOut)
				}
			} else if code == 0 || !strings.Contains(errOut, "not enabled") {
				t.Fatalf("keyring -list without encryption = %d %q %s", code, out, errOut)
			}
		})
	}
}

// TestRPCRefusesCertificateFromAnotherCA starts a node whose certificate
// comes from another CA: its gossip handshakes are refused and counted,
// it is never listed, and RPC in either direction is refused.
func TestRPCRefusesCertificateFromAnotherCA(t *testing.T) {
	fleetDir, rogueDir := t.TempDir(), t.TempDir()
	mustRun(t, "tls", "ca", "create", "-dir", fleetDir)
	mustRun(t, "tls", "ca", "create", "-dir", rogueDir)
	mustRun(t, "tls", "cert", "create", "-node", "seed", "-ca-dir", fleetDir, "-dir", fleetDir)
	mustRun(t, "tls", "cert", "create", "-node", "rogue", "-ca-dir", rogueDir, "-dir", rogueDir)
	seed := startAgent(t, "-dev", "-node", "seed", "-tls-ca-file", filepath.Join(fleetDir, "ca.pem"),
		"-tls-cert-file", filepath.Join(fleetDir, "seed.pem"), "-tls-key-file", filepath.Join(fleetDir, "seed-key.pem"))
	rogue := startAgent(t, "-dev", "-node", "rogue", "-retry-interval", "100ms", "-join", seed.gossipAddr,
		"-tls-ca-file", filepath.Join(fleetDir, "ca.pem"),
		"-tls-cert-file", filepath.Join(rogueDir, "rogue.pem"), "-tls-key-file", filepath.Join(rogueDir, "rogue-key.pem"))
	testutil.Eventually(t, 30*time.Second, func() error {
		var self struct{ Stats map[string]map[string]string }
		getJSON(t, seed.url("/v1/agent/self"), &self)
		if n := self.Stats["mesh"]["failed_handshakes"]; n == "" || n == "0" {
			return fmt.Errorf("the seed counted no refused handshake (mesh stats %v)", self.Stats["mesh"])
		}
		return nil
	})
	if out, _, _ := seed.cli(t, "members"); strings.Contains(out, "rogue") {
		t.Fatalf("the seed lists the rogue node:\n%s", out)
	}
	if out, errOut, code := seed.cli(t, "rpc", "ping", "rogue"); code == 0 || !strings.Contains(errOut, "404") {
		t.Fatalf("seed reached the rogue node: %s %s", out, errOut)
	}
	if out, _, code := rogue.cli(t, "rpc", "ping", "seed"); code == 0 {
		t.Fatalf("the rogue node reached the seed: %s", out)
	}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, "", args...)
	if code != 0 {
		t.Fatalf("edgeplane %s: %d %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
