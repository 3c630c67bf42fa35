package agent

import (
	"errors"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/config"
)

// TestCheckMeshSecurity: off loopback (by bind_addr or advertise_addr),
// an agent that authenticates nobody refuses to start unless
// insecure_mesh is set; on loopback, or with a fleet CA or a gossip key,
// it starts as it is.
func TestCheckMeshSecurity(t *testing.T) {
	fleet := config.TLSConfig{CAFile: "ca.pem", CertFile: "n.pem", KeyFile: "n-key.pem"}
	for _, tt := range []struct {
		name          string
		bind, adv     string
		tls           config.TLSConfig
		authenticated bool
		insecureMesh  bool
		refused       string // the address named; "" when allowed
		insecure      bool
	}{
		{name: "dev: loopback", bind: "127.0.0.1"},
		{name: "other loopback", bind: "127.0.0.5", adv: "127.0.0.6"},
		{name: "IPv6 loopback", bind: "::1"},
		{name: "every interface", bind: "0.0.0.0", refused: "bind_addr 0.0.0.0"},
		{name: "every IPv6 interface", bind: "::", refused: "bind_addr ::"},
		{name: "a LAN address", bind: "10.20.0.11", refused: "bind_addr 10.20.0.11"},
		{name: "advertised off loopback", bind: "127.0.0.1", adv: "203.0.113.7", refused: "advertise_addr 203.0.113.7"},
		{name: "gossip key", bind: "0.0.0.0", authenticated: true},
		{name: "fleet CA", bind: "0.0.0.0", tls: fleet},
		{name: "fleet CA and key", bind: "10.20.0.11", tls: fleet, authenticated: true},
		{name: "insecure_mesh", bind: "0.0.0.0", insecureMesh: true, insecure: true},
		{name: "insecure_mesh, advertised", bind: "127.0.0.1", adv: "203.0.113.7", insecureMesh: true, insecure: true},
		{name: "insecure_mesh on loopback", bind: "127.0.0.1", insecureMesh: true},
		{name: "insecure_mesh with a key", bind: "0.0.0.0", authenticated: true, insecureMesh: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.BindAddr, cfg.AdvertiseAddr, cfg.TLS, cfg.InsecureMesh = tt.bind, tt.adv, tt.tls, tt.insecureMesh
			insecure, err := checkMeshSecurity(cfg, tt.authenticated)
			if tt.refused == "" {
				if err != nil || insecure != tt.insecure {
					t.Fatalf("checkMeshSecurity = %v, %v; want %v, nil", insecure, err, tt.insecure)
				}
				return
			}
			if !errors.Is(err, ErrUnauthenticatedMesh) || insecure {
				t.Fatalf("checkMeshSecurity = %v, %v; want ErrUnauthenticatedMesh", insecure, err)
			}
			for _, want := range []string{tt.refused, "encrypt", "edgeplane keygen", "tls", "edgeplane tls ca create",
				"edgeplane tls cert create", "join_token", "edgeplane join-token", "insecure_mesh: true"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the refusal does not name %q: %v", want, err)
				}
			}
		})
	}
}
