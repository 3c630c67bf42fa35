package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/transport"
	"github.com/edgeplane/edgeplane/transport/resilience"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// metaFingerprint is the gossip tag under which a node announces the
// fingerprint of its self-signed RPC certificate (pinned trust modes).
const metaFingerprint = "fp"

// tlsDirName holds the node's self-signed RPC certificate in the data dir.
const tlsDirName = "tls"

// Methods every agent serves.
const methodPing = "edgeplane.ping"

// rpcShutdownTimeout bounds the drain of in-flight RPC calls.
const rpcShutdownTimeout = 10 * time.Second

// rpc is the agent's QUIC endpoint: the server other agents call, and the
// client (with its per-target policy) this agent calls them with.
type rpc struct {
	mode    tlsmesh.Mode
	srv     *transport.Server
	client  *transport.Client
	agents  *transport.Target // policy for agent-to-agent calls
	metrics *transport.Metrics
	tags    map[string]string  // gossip tags announcing the endpoint
	verify  tlsmesh.VerifyFunc // checks peers' certificates, as server and client
}

// startRPC loads or makes the node's certificate for the configured trust
// mode and binds the RPC listener, so that the gossip metadata can carry
// the real address and the certificate's fingerprint. Calls are served
// once Run starts.
func (a *Agent) startRPC() error {
	a.members = newMemberWaiter(a.meshReady.Load, memberWait, maxMemberWaiters)
	cert, verify, mode, err := a.rpcIdentity()
	if err != nil {
		return err
	}
	r := &rpc{mode: mode, metrics: transport.NewMetrics(), tags: map[string]string{}, verify: verify}
	tlsCfg := transport.TLSConfig{Certificate: cert, VerifyPeer: verify}
	interceptors := func(server bool) []transport.Interceptor {
		chain := []transport.Interceptor{transport.Trace(), transport.Logging(a.log), r.metrics.Interceptor()}
		if server {
			chain = append(chain, transport.RequireMember(a.isMember))
		}
		return append(chain, transport.HLC(a.hlcNow, a.hlcObserve))
	}
	r.srv, err = transport.NewServer(transport.ServerConfig{
		Addr:         net.JoinHostPort(a.cfg.BindAddr, strconv.Itoa(a.cfg.RPCPort)),
		TLS:          tlsCfg,
		Interceptors: interceptors(true),
		Logger:       a.log,
	})
	if err != nil {
		return fmt.Errorf("agent: rpc: %w", err)
	}
	r.srv.Handle(methodPing, transport.Unary(a.handlePing))
	if err := r.srv.Listen(); err != nil {
		return fmt.Errorf("agent: rpc: listen on %s: %w", net.JoinHostPort(a.cfg.BindAddr, strconv.Itoa(a.cfg.RPCPort)), err)
	}
	r.client, err = transport.NewClient(transport.ClientConfig{TLS: tlsCfg, Interceptors: interceptors(false), Logger: a.log})
	if err != nil {
		r.srv.Close()
		return fmt.Errorf("agent: rpc client: %w", err)
	}
	if r.agents, err = r.client.Target("agents", resilience.DefaultPolicy()); err != nil {
		r.client.Close()
		r.srv.Close()
		return fmt.Errorf("agent: rpc policy: %w", err)
	}
	if mode != tlsmesh.FleetCA {
		r.tags[metaFingerprint] = tlsmesh.FormatFingerprint(tlsmesh.Fingerprint(cert.Leaf.Raw))
	}
	if w := mode.Warning(); w != "" {
		a.log.Warn(w)
	}
	a.rpc = r
	return nil
}

// rpcIdentity returns the certificate and peer verifier of the trust mode:
// the fleet CA when tls files are configured, else a self-signed
// certificate pinned by the fingerprint each node announces over gossip
// (authenticated when gossip is encrypted, and only then).
func (a *Agent) rpcIdentity() (*tls.Certificate, tlsmesh.VerifyFunc, tlsmesh.Mode, error) {
	if t := a.cfg.TLS; t.Enabled() {
		cert, err := tlsmesh.LoadCertificate(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("agent: tls: %w", err)
		}
		roots, err := tlsmesh.LoadPool(t.CAFile)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("agent: tls: %w", err)
		}
		name, err := tlsmesh.NodeName(cert.Leaf)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("agent: tls: certificate %s: %w", t.CertFile, err)
		}
		if name != a.cfg.NodeName {
			return nil, nil, 0, fmt.Errorf("agent: tls: certificate %s names node %q, not this node %q", t.CertFile, name, a.cfg.NodeName)
		}
		return cert, tlsmesh.VerifyFleet(roots, a.certNow), tlsmesh.FleetCA, nil
	}
	cert, err := tlsmesh.LoadOrCreateSelfSigned(filepath.Join(a.dataDir, tlsDirName), a.cfg.NodeName, a.certNow)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("agent: rpc certificate: %w", err)
	}
	mode := tlsmesh.PinnedPlain
	if a.cfg.Encrypt != "" || a.cfg.EncryptFile != "" || a.hasKeyringFile() {
		mode = tlsmesh.PinnedEncrypted
	}
	return cert, a.awaitAnnounced(tlsmesh.VerifyPinned(a.announcedFingerprint)), mode, nil
}

// awaitAnnounced makes a pinned verifier wait for gossip (see memberWait)
// when the certificate's node has announced no fingerprint, or another
// one, yet: it may have just joined or restarted.
func (a *Agent) awaitAnnounced(verify tlsmesh.VerifyFunc) tlsmesh.VerifyFunc {
	return func(cs tls.ConnectionState) (string, error) {
		node, err := verify(cs)
		if !errors.Is(err, tlsmesh.ErrNotAnnounced) && !errors.Is(err, tlsmesh.ErrFingerprintMismatch) {
			return node, err
		}
		err = a.members.await(func() (err error) {
			node, err = verify(cs)
			return err
		})
		return node, err
	}
}

func (a *Agent) hasKeyringFile() bool {
	kr, err := gossip.LoadKeyring(filepath.Join(a.dataDir, keyringFileName))
	return err == nil && kr != nil
}

// certNow is the time certificates are checked at: the later of the wall
// clock and the hybrid logical clock, so a device that boots with its
// clock at 1970 does not accept certificates that expired before.
func (a *Agent) certNow() time.Time {
	now := time.Now()
	if h := a.store.Clock().Peek().Time(); h.After(now) {
		return h
	}
	return now
}

func (a *Agent) hlcNow() uint64 { return uint64(a.store.Clock().Now()) }

// hlcObserve takes a peer's clock reading from an RPC header or reply;
// replication decides how far it may move this node's clock.
func (a *Agent) hlcObserve(v uint64) {
	if r := a.replicaReady.Load(); r != nil {
		r.ObservePeerClock(v)
	}
}

// announcedFingerprint returns the fingerprint a live member announced.
func (a *Agent) announcedFingerprint(node string) ([]byte, bool) {
	mem, ok := a.liveMember(node)
	if !ok {
		return nil, false
	}
	fp, err := tlsmesh.ParseFingerprint(mem.Tags[metaFingerprint])
	return fp, err == nil
}

// isMember reports whether node is a current member (alive, suspect or
// leaving): the RPC server's auth check. A node not (or no longer) known
// as one is given memberWait for gossip to bring news of it.
func (a *Agent) isMember(node string) bool {
	return a.members.await(func() error {
		if _, ok := a.liveMember(node); !ok {
			return errNotMember
		}
		return nil
	}) == nil
}

var errNotMember = errors.New("not a current member")

// liveMember may run in a TLS handshake before the mesh has started (the
// RPC listener binds first), so it reads the mesh through meshReady.
func (a *Agent) liveMember(node string) (gossip.Member, bool) {
	mesh := a.meshReady.Load()
	if mesh == nil {
		return gossip.Member{}, false
	}
	for _, m := range mesh.Members() {
		if m.Name == node {
			switch m.Status {
			case gossip.StatusAlive, gossip.StatusSuspect, gossip.StatusLeaving:
				return m, true
			}
			return gossip.Member{}, false
		}
	}
	return gossip.Member{}, false
}

// rpcAddr is the RPC address announced to peers.
func (a *Agent) rpcAddr(advertise string) string {
	host := advertise
	if host == "" {
		host = a.cfg.BindAddr
	}
	_, port, _ := net.SplitHostPort(a.rpc.srv.Addr().String())
	return net.JoinHostPort(host, port)
}

type pingRequest struct {
	From string `cbor:"1,keyasint"`
}

type pingResponse struct {
	Node string `cbor:"1,keyasint"`
}

func (a *Agent) handlePing(ctx context.Context, req *pingRequest) (*pingResponse, error) {
	return &pingResponse{Node: a.cfg.NodeName}, nil
}

// PingResult is the outcome of Ping.
type PingResult struct {
	Node string
	Addr string
	RTT  time.Duration
}

// Ping calls another agent's ping method through the agents' policy
// (timeout, retries, breaker), like every internal call, and measures the
// round trip.
func (a *Agent) Ping(ctx context.Context, node string) (PingResult, error) {
	mem, ok := a.liveMember(node)
	if !ok {
		return PingResult{}, fmt.Errorf("%w: no live member named %q", httpapi.ErrUnknownNode, node)
	}
	addr := mem.Tags[gossip.MetaRPC]
	if addr == "" {
		return PingResult{}, fmt.Errorf("member %q announces no RPC address", node)
	}
	var resp pingResponse
	start := time.Now()
	err := a.rpc.agents.Invoke(ctx, []transport.Peer{{Node: node, Addr: addr}}, methodPing,
		&pingRequest{From: a.cfg.NodeName}, &resp, transport.Idempotent())
	res := PingResult{Node: node, Addr: addr, RTT: time.Since(start)}
	if err != nil {
		return res, fmt.Errorf("ping %s at %s: %w", node, addr, err)
	}
	return res, nil
}

// stopRPC drains in-flight calls and closes the client.
func (a *Agent) stopRPC() {
	if a.rpc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), rpcShutdownTimeout)
	defer cancel()
	if err := a.rpc.srv.Shutdown(ctx); err != nil {
		a.log.Warn("rpc server did not drain in time", "err", err)
	}
	a.rpc.client.Close()
}
