package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/transport"
	"github.com/edgeplane/edgeplane/transport/resilience"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// tlsDirName holds the node's self-signed RPC certificate in the data dir.
const tlsDirName = "tls"

// rpcShutdownTimeout bounds the drain of in-flight RPC calls.
const rpcShutdownTimeout = 10 * time.Second

// rpcIdentity is what gossip announces of the RPC endpoint before the
// endpoint is built: its bound UDP socket and its certificate.
type rpcIdentity struct {
	cert *tls.Certificate // the certificate at start
	mode tlsmesh.Mode
	// live is the material in effect: the certificate presented at each
	// handshake and, in the FleetCA mode, the CA pool peers must chain
	// to. A reload swaps it (meshTLS).
	live *tlsmesh.Live
	now  func() time.Time
	sock net.PacketConn
	bind string // the configured bind address
}

// loadRPCIdentity loads or makes the node's certificate for the
// configured trust mode, and binds the RPC socket, so that the gossip
// metadata can carry the real address and the certificate's fingerprint.
// The fleet CA is used when tls files are configured; otherwise a
// self-signed certificate, pinned by the fingerprint each node announces
// over gossip (authenticated when gossip is encrypted, and only then).
func loadRPCIdentity(cfg config.Config, dataDir string, st *store.Store, log *slog.Logger) (*rpcIdentity, error) {
	id := &rpcIdentity{now: certNow(st), bind: cfg.BindAddr}
	if t := cfg.TLS; t.Enabled() {
		m, err := tlsmesh.LoadMaterial(t.CertFile, t.KeyFile, t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("agent: tls: %w", err)
		}
		cert := m.Cert
		id.live = tlsmesh.NewLive(m)
		name, err := tlsmesh.NodeName(cert.Leaf)
		if err != nil {
			return nil, fmt.Errorf("agent: tls: certificate %s: %w", t.CertFile, err)
		}
		if name != cfg.NodeName {
			return nil, fmt.Errorf("agent: tls: certificate %s names node %q, not this node %q", t.CertFile, name, cfg.NodeName)
		}
		id.cert, id.mode = cert, tlsmesh.FleetCA
	} else {
		cert, err := tlsmesh.LoadOrCreateSelfSigned(filepath.Join(dataDir, tlsDirName), cfg.NodeName, id.now)
		if err != nil {
			return nil, fmt.Errorf("agent: rpc certificate: %w", err)
		}
		id.cert, id.mode = cert, tlsmesh.PinnedPlain
		id.live = tlsmesh.NewLive(&tlsmesh.Material{Cert: cert})
		if cfg.Encrypt != "" || cfg.EncryptFile != "" || hasKeyringFile(dataDir) {
			id.mode = tlsmesh.PinnedEncrypted
		}
	}
	addr := net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.RPCPort))
	sock, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("agent: rpc: listen on %s: %w", addr, err)
	}
	id.sock = sock
	if w := id.mode.Warning(); w != "" {
		log.Warn(w)
	}
	return id, nil
}

// announce returns the gossip tags that announce the endpoint: its
// address (on the advertised host, else the bound one) and its
// certificate's fingerprint.
func (id *rpcIdentity) announce(advertise string) map[string]string {
	host := advertise
	if host == "" {
		host = id.bind
	}
	_, port, _ := net.SplitHostPort(id.sock.LocalAddr().String())
	return map[string]string{
		gossip.MetaRPC:         net.JoinHostPort(host, port),
		gossip.MetaFingerprint: id.fingerprint(),
	}
}

// fingerprint returns the fingerprint (hex) of the certificate in effect.
func (id *rpcIdentity) fingerprint() string {
	return tlsmesh.FormatFingerprint(tlsmesh.Fingerprint(id.live.Certificate().Leaf.Raw))
}

// close releases the socket of an identity no endpoint took over.
func (id *rpcIdentity) close() { id.sock.Close() }

func hasKeyringFile(dataDir string) bool {
	kr, err := gossip.LoadKeyring(filepath.Join(dataDir, keyringFileName))
	return err == nil && kr != nil
}

// certNow returns the time certificates are checked at: the later of the
// wall clock and st's hybrid logical clock, so a device that boots with
// its clock at 1970 does not accept certificates that expired before.
func certNow(st *store.Store) func() time.Time {
	return func() time.Time {
		now := time.Now()
		if h := st.Clock().Peek().Time(); h.After(now) {
			return h
		}
		return now
	}
}

// rpcEndpoint is the agent's QUIC endpoint: the server other agents call,
// and the client (with its per-target policy) this agent calls them with.
// It serves from Start until Close.
type rpcEndpoint struct {
	self   string
	mode   tlsmesh.Mode
	srv    *transport.Server
	client *transport.Client
	agents *transport.Target // policy for agent-to-agent calls
	// calls and callsMade count the calls served and made, by method.
	calls, callsMade *transport.Metrics
	verify           tlsmesh.VerifyFunc // checks peers' certificates, as server and client
	members          memberCheck        // who may call, and with which certificate
	// observeClock takes the peers' clock readings from every call, served
	// or made. Set it before Start: calls are served from Start, and made
	// by components started after it.
	observeClock func(reading uint64)
	log          *slog.Logger
	served       sync.WaitGroup
}

// newRPCEndpoint builds the server and client on id, authenticating peers
// by mesh's membership. The server starts its TLS handshakes on id's
// socket at once; calls are served from Start.
func newRPCEndpoint(cfg config.Config, id *rpcIdentity, trust meshTrust, mesh *gossip.Mesh, st *store.Store, log *slog.Logger) (*rpcEndpoint, error) {
	r := &rpcEndpoint{self: cfg.NodeName, mode: id.mode, calls: transport.NewMetrics(), callsMade: transport.NewMetrics(), log: log,
		members: memberCheck{mesh: mesh, wait: newMemberWaiter(mesh, memberWait, maxMemberWaiters)}}
	if id.mode == tlsmesh.FleetCA {
		r.verify = tlsmesh.VerifyFleetFrom(id.live.Roots, id.now)
	} else {
		r.verify = r.members.awaitAnnounced(tlsmesh.VerifyPinned(r.members.announcedFingerprint))
	}
	r.verify = trust.refuseRevoked(r.verify)
	tlsCfg := transport.TLSConfig{Certificate: id.cert, GetCertificate: id.live.Certificate, VerifyPeer: r.verify}
	hlcNow := func() uint64 { return uint64(st.Clock().Now()) }
	observe := func(reading uint64) {
		if r.observeClock != nil {
			r.observeClock(reading)
		}
	}
	interceptors := func(server bool) []transport.Interceptor {
		chain := []transport.Interceptor{transport.Trace(), transport.Logging(log), r.callsMade.Interceptor()}
		if server {
			chain[2] = r.calls.Interceptor()
			chain = append(chain, transport.RequireMember(r.members.isMember))
		}
		return append(chain, transport.HLC(hlcNow, observe))
	}
	var err error
	r.srv, err = transport.NewServer(transport.ServerConfig{
		PacketConn:   id.sock,
		TLS:          tlsCfg,
		Interceptors: interceptors(true),
		Logger:       log,
	})
	if err != nil {
		id.close()
		return nil, fmt.Errorf("agent: rpc: %w", err)
	}
	transport.ServePing(r.srv, cfg.NodeName)
	if err := r.srv.Listen(); err != nil { // the server owns the socket from here
		id.close()
		return nil, fmt.Errorf("agent: rpc: listen on %s: %w", id.sock.LocalAddr(), err)
	}
	r.client, err = transport.NewClient(transport.ClientConfig{TLS: tlsCfg, Interceptors: interceptors(false), Logger: log})
	if err != nil {
		r.srv.Close()
		return nil, fmt.Errorf("agent: rpc client: %w", err)
	}
	if r.agents, err = r.client.Target("agents", resilience.DefaultPolicy()); err != nil {
		r.client.Close()
		r.srv.Close()
		return nil, fmt.Errorf("agent: rpc policy: %w", err)
	}
	return r, nil
}

// Calls returns the calls served and made so far, by method (the
// telemetry's RPC source). Served methods are those registered: a call
// to another is refused before the interceptors.
func (r *rpcEndpoint) Calls() (served, made map[string]transport.MethodStats) {
	return r.calls.Snapshot(), r.callsMade.Snapshot()
}

// Breakers reports the client's circuit breakers.
func (r *rpcEndpoint) Breakers() []transport.BreakerStat { return r.client.Breakers() }

// Start serves calls until Close.
func (r *rpcEndpoint) Start(context.Context) error {
	r.served.Go(func() {
		// Shutdown and Close end Serve with ErrServerClosed: a clean stop.
		if err := r.srv.Serve(context.Background()); err != nil && !errors.Is(err, transport.ErrServerClosed) {
			r.log.Error("rpc server stopped", "err", err)
		}
	})
	return nil
}

// Close drains in-flight calls (for up to rpcShutdownTimeout) and closes
// the client.
func (r *rpcEndpoint) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), rpcShutdownTimeout)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		r.log.Warn("rpc server did not drain in time", "err", err)
	}
	r.served.Wait()
	r.client.Close()
	return nil
}

// Ping calls another agent's ping method through the agents' policy
// (timeout, retries, breaker), like every internal call, and measures the
// round trip. It serves the HTTP API's ping.
func (r *rpcEndpoint) Ping(ctx context.Context, node string) (addr string, rtt time.Duration, err error) {
	mem, ok := r.members.live(node)
	if !ok {
		return "", 0, fmt.Errorf("%w: no live member named %q", httpapi.ErrUnknownNode, node)
	}
	addr = mem.Tags[gossip.MetaRPC]
	if addr == "" {
		return "", 0, fmt.Errorf("member %q announces no RPC address", node)
	}
	rtt, err = r.agents.Ping(ctx, transport.Peer{Node: node, Addr: addr}, r.self)
	if err != nil {
		return addr, rtt, fmt.Errorf("ping %s at %s: %w", node, addr, err)
	}
	return addr, rtt, nil
}
