package agent

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/edgeplane/edgeplane/agent/config"
)

// ErrUnauthenticatedMesh is returned by New for an agent that would
// listen or announce itself off loopback with nobody authenticated: no
// fleet CA, no gossip key, no join token, and insecure_mesh not set.
var ErrUnauthenticatedMesh = errors.New("agent: refusing to run an unauthenticated mesh off loopback")

// insecureMeshWarning is logged at every start of an agent that runs
// unauthenticated off loopback because insecure_mesh says so.
const insecureMeshWarning = "insecure_mesh is set and this agent is reachable off loopback with no mesh authentication: " +
	"anyone who reaches its gossip and RPC ports can join the mesh and read and write its data; " +
	"set encrypt (edgeplane keygen), a fleet CA (tls) or join_token, then remove insecure_mesh"

// checkMeshSecurity decides whether an agent configured with cfg may
// start, before it binds anything. authenticated says whether its mesh
// will authenticate members without the fleet CA: a gossip key is
// configured (encrypt, encrypt_file), a join token brings one, or the
// data dir holds a keyring. An agent whose bind_addr or advertise_addr is
// not a loopback address (0.0.0.0 and :: are not) and which would trust
// nobody fails with ErrUnauthenticatedMesh, unless insecure_mesh is set:
// then insecure is true, and the agent runs so and says so.
func checkMeshSecurity(cfg config.Config, authenticated bool) (insecure bool, err error) {
	if cfg.TLS.Enabled() || authenticated {
		return false, nil
	}
	exposed := ""
	for _, a := range []struct{ key, addr string }{{"bind_addr", cfg.BindAddr}, {"advertise_addr", cfg.AdvertiseAddr}} {
		if a.addr == "" && a.key == "advertise_addr" {
			continue
		}
		if ip, err := netip.ParseAddr(a.addr); err != nil || !ip.IsLoopback() {
			exposed = a.key + " " + a.addr
			break
		}
	}
	if exposed == "" {
		return false, nil
	}
	if cfg.InsecureMesh {
		return true, nil
	}
	return false, fmt.Errorf("%w: %s is not a loopback address and nothing authenticates the mesh, "+
		"so anyone who reaches the gossip and RPC ports could join it and read and write its data. Set one of: "+
		"a gossip key (encrypt or encrypt_file; make one with `edgeplane keygen`); "+
		"a fleet CA (the tls section: ca_file, cert_file, key_file; made with `edgeplane tls ca create` and `edgeplane tls cert create`); "+
		"a join token from a member (join_token or join_token_file; made with `edgeplane join-token`); "+
		"or, to run unauthenticated anyway, insecure_mesh: true",
		ErrUnauthenticatedMesh, exposed)
}
