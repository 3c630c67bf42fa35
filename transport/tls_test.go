package transport

import (
	"crypto/tls"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/transport/tlsmesh"
	"github.com/quic-go/quic-go"
)

// announcements stands in for fingerprints announced in gossip metadata.
type announcements struct {
	mu  sync.Mutex
	fps map[string][]byte
}

func (a *announcements) announce(node string, cert *tls.Certificate) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fps == nil {
		a.fps = map[string][]byte{}
	}
	a.fps[node] = tlsmesh.Fingerprint(cert.Leaf.Raw)
}

func (a *announcements) lookup(node string) ([]byte, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fp, ok := a.fps[node]
	return fp, ok
}

// trustMode builds the TLS settings of two nodes, "node-a" (client) and
// "node-b" (server), in one trust mode.
type trustMode struct {
	name  string
	build func(t *testing.T) (client, server TLSConfig)
}

var trustModes = []trustMode{
	{"fleet CA", func(t *testing.T) (TLSConfig, TLSConfig) {
		return fleetTLS(t, "node-a"), fleetTLS(t, "node-b")
	}},
	{"pinned, fingerprints in encrypted gossip", func(t *testing.T) (TLSConfig, TLSConfig) {
		ann := &announcements{}
		a, _ := tlsmesh.SelfSigned("node-a", nil)
		b, _ := tlsmesh.SelfSigned("node-b", nil)
		ann.announce("node-a", a)
		ann.announce("node-b", b)
		v := tlsmesh.VerifyPinned(ann.lookup)
		return TLSConfig{Certificate: a, VerifyPeer: v}, TLSConfig{Certificate: b, VerifyPeer: v}
	}},
	{"pinned, fingerprints in plain gossip (dev)", func(t *testing.T) (TLSConfig, TLSConfig) {
		// Each node keeps its certificate in its data directory.
		ann := &announcements{}
		a, err := tlsmesh.LoadOrCreateSelfSigned(t.TempDir(), "node-a", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tlsmesh.LoadOrCreateSelfSigned(t.TempDir(), "node-b", nil)
		if err != nil {
			t.Fatal(err)
		}
		ann.announce("node-a", a)
		ann.announce("node-b", b)
		v := tlsmesh.VerifyPinned(ann.lookup)
		return TLSConfig{Certificate: a, VerifyPeer: v}, TLSConfig{Certificate: b, VerifyPeer: v}
	}},
}

func TestTrustModesCallSucceeds(t *testing.T) {
	for _, m := range trustModes {
		t.Run(m.name, func(t *testing.T) {
			clientTLS, serverTLS := m.build(t)
			srv := startServer(t, ServerConfig{TLS: serverTLS,
				Interceptors: []Interceptor{RequireMember(func(n string) bool { return n == "node-a" })}})
			c := newClient(t, ClientConfig{TLS: clientTLS})
			var got CallInfo
			if err := c.Call(ctxTimeout(t, 5*time.Second), srv.peer("node-b"), "info", &Msg{}, &got); err != nil {
				t.Fatal(err)
			}
			if got.Peer.Node != "node-a" {
				t.Fatalf("server bound the caller to %q, want node-a", got.Peer.Node)
			}
		})
	}
}

func TestRefusedPeers(t *testing.T) {
	ca := fleetCA(t)
	other, err := tlsmesh.NewCA(tlsmesh.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *tlsmesh.CA, node string, opts tlsmesh.CertOptions) *tls.Certificate {
		c, err := ca.IssueTLS(node, opts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	fleet := tlsmesh.VerifyFleet(ca.Pool(), time.Now)
	expired := issue(ca, "node-a", tlsmesh.CertOptions{Now: func() time.Time { return time.Now().Add(-48 * time.Hour) }, Validity: time.Hour})

	ann := &announcements{}
	pinnedA, _ := tlsmesh.SelfSigned("node-a", nil)
	pinnedB, _ := tlsmesh.SelfSigned("node-b", nil)
	impostorA, _ := tlsmesh.SelfSigned("node-a", nil)
	ann.announce("node-a", pinnedA)
	ann.announce("node-b", pinnedB)
	pinned := tlsmesh.VerifyPinned(ann.lookup)

	tests := []struct {
		name   string
		client TLSConfig
		server TLSConfig
		dial   string // node the client expects
		want   error  // wrapped in the client's error, if the client can see it
		// serverOK: the server is a valid fleet node-b, so a well-behaved
		// client must still get through.
		serverOK bool
	}{
		{"client certificate from another CA",
			TLSConfig{Certificate: issue(other, "node-a", tlsmesh.CertOptions{}), VerifyPeer: fleet},
			TLSConfig{Certificate: issue(ca, "node-b", tlsmesh.CertOptions{}), VerifyPeer: fleet}, "node-b", nil, true},
		{"server certificate from another CA",
			TLSConfig{Certificate: issue(ca, "node-a", tlsmesh.CertOptions{}), VerifyPeer: fleet},
			TLSConfig{Certificate: issue(other, "node-b", tlsmesh.CertOptions{}), VerifyPeer: fleet}, "node-b", tlsmesh.ErrUntrusted, false},
		{"expired client certificate",
			TLSConfig{Certificate: expired, VerifyPeer: fleet},
			TLSConfig{Certificate: issue(ca, "node-b", tlsmesh.CertOptions{}), VerifyPeer: fleet}, "node-b", nil, true},
		{"server SAN names another node",
			TLSConfig{Certificate: issue(ca, "node-a", tlsmesh.CertOptions{}), VerifyPeer: fleet},
			TLSConfig{Certificate: issue(ca, "node-c", tlsmesh.CertOptions{}), VerifyPeer: fleet}, "node-b", ErrPeerMismatch, false},
		{"client fingerprint does not match its announcement",
			TLSConfig{Certificate: impostorA, VerifyPeer: pinned},
			TLSConfig{Certificate: pinnedB, VerifyPeer: pinned}, "node-b", nil, false},
		{"server fingerprint does not match its announcement",
			TLSConfig{Certificate: pinnedA, VerifyPeer: pinned},
			TLSConfig{Certificate: impostorA, VerifyPeer: pinned}, "node-a", tlsmesh.ErrFingerprintMismatch, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, ServerConfig{TLS: tt.server})
			c := newClient(t, ClientConfig{TLS: tt.client})
			err := c.Call(ctxTimeout(t, 5*time.Second), srv.peer(tt.dial), "echo", &Msg{}, nil)
			e := wantCode(t, err, Unauthenticated)
			if !e.Unprocessed {
				t.Errorf("refused handshake not marked Unprocessed: %v", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v does not wrap %v", err, tt.want)
			}
			if tt.serverOK { // the server keeps serving well-behaved peers
				good := newClient(t, ClientConfig{TLS: TLSConfig{Certificate: issue(ca, "node-a", tlsmesh.CertOptions{}), VerifyPeer: fleet}})
				if err := good.Call(ctxTimeout(t, 5*time.Second), srv.peer("node-b"), "echo", &Msg{}, nil); err != nil {
					t.Fatalf("well-behaved client refused: %v", err)
				}
			}
		})
	}
}

func TestNonMemberRejectedByAuth(t *testing.T) {
	members := map[string]bool{"node-a": true}
	var mu sync.Mutex
	isMember := func(n string) bool { mu.Lock(); defer mu.Unlock(); return members[n] }
	srv := startServer(t, ServerConfig{TLS: fleetTLS(t, "node-b"), Interceptors: []Interceptor{RequireMember(isMember)}})
	ctx := ctxTimeout(t, 5*time.Second)

	member := newClient(t, ClientConfig{TLS: fleetTLS(t, "node-a")})
	if err := member.Call(ctx, srv.peer("node-b"), "echo", &Msg{}, nil); err != nil {
		t.Fatal(err)
	}
	// A valid certificate for a node that is not a member.
	stranger := newClient(t, ClientConfig{TLS: fleetTLS(t, "node-x")})
	e := wantCode(t, stranger.Call(ctx, srv.peer("node-b"), "echo", &Msg{}, nil), Unauthenticated)
	if e.Unprocessed {
		t.Fatal("an auth refusal is final, not retryable")
	}
	// A member that leaves is refused on its existing connection.
	mu.Lock()
	delete(members, "node-a")
	mu.Unlock()
	wantCode(t, member.Call(ctx, srv.peer("node-b"), "echo", &Msg{}, nil), Unauthenticated)
}

func TestALPNRequired(t *testing.T) {
	srv := startServer(t, ServerConfig{TLS: fleetTLS(t, "node-b")})
	conf := clientTLS(fleetTLS(t, "node-a"), "node-b")
	conf.NextProtos = []string{"h3"}
	ctx := ctxTimeout(t, 5*time.Second)
	conn, err := quic.DialAddr(ctx, srv.Addr().String(), conf, &quic.Config{})
	if err == nil {
		conn.CloseWithError(0, "")
		t.Fatal("handshake with another ALPN succeeded")
	}
	var te *quic.TransportError
	if !errors.As(err, &te) || !te.ErrorCode.IsCryptoError() {
		t.Fatalf("got %v, want a TLS alert", err)
	}
}

// serials records the serial numbers of the certificates a verifier saw,
// one per handshake.
type serials struct {
	mu   sync.Mutex
	seen []string
}

func (s *serials) wrap(v func(tls.ConnectionState) (string, error)) func(tls.ConnectionState) (string, error) {
	return func(cs tls.ConnectionState) (string, error) {
		s.mu.Lock()
		s.seen = append(s.seen, cs.PeerCertificates[0].SerialNumber.String())
		s.mu.Unlock()
		return v(cs)
	}
}

func (s *serials) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// TestCertificateSwappedForNextHandshakes: with GetCertificate, a new
// certificate is presented at the next handshakes, as server and as
// client, while a connection opened before keeps serving calls.
func TestCertificateSwappedForNextHandshakes(t *testing.T) {
	ca := fleetCA(t)
	issue := func(node string) *tls.Certificate {
		c, err := ca.IssueTLS(node, tlsmesh.CertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	verify := tlsmesh.VerifyFleet(ca.Pool(), time.Now)
	var serverCert, clientCert atomic.Pointer[tls.Certificate]
	serverCert.Store(issue("node-b"))
	clientCert.Store(issue("node-a"))
	var seenByClients, seenByServer serials
	srv := startServer(t, ServerConfig{TLS: TLSConfig{Certificate: serverCert.Load(), GetCertificate: serverCert.Load,
		VerifyPeer: seenByServer.wrap(verify)}})
	clientTLS := TLSConfig{Certificate: clientCert.Load(), GetCertificate: clientCert.Load, VerifyPeer: seenByClients.wrap(verify)}
	old := newClient(t, ClientConfig{TLS: clientTLS})
	call := func(c *Client) {
		t.Helper()
		var got CallInfo
		if err := c.Call(ctxTimeout(t, 5*time.Second), srv.peer("node-b"), "info", &Msg{}, &got); err != nil {
			t.Fatal(err)
		}
	}
	call(old)
	serial := func(c *tls.Certificate) string { return c.Leaf.SerialNumber.String() }
	oldServer, oldClient := serial(serverCert.Load()), serial(clientCert.Load())

	serverCert.Store(issue("node-b"))
	clientCert.Store(issue("node-a"))
	call(old) // the open connection keeps serving
	if got := seenByClients.list(); len(got) != 1 || got[0] != oldServer {
		t.Fatalf("handshakes seen by the clients after the swap = %v, want only the first (%s)", got, oldServer)
	}
	fresh := newClient(t, ClientConfig{TLS: clientTLS})
	call(fresh)
	if got := seenByClients.list(); len(got) != 2 || got[1] != serial(serverCert.Load()) {
		t.Fatalf("a new connection saw server serials %v, want the new %s last", got, serial(serverCert.Load()))
	}
	// The server checks a peer at the handshake and again as it accepts
	// the connection.
	if got := slices.Compact(seenByServer.list()); len(got) != 2 || got[0] != oldClient || got[1] != serial(clientCert.Load()) {
		t.Fatalf("the server saw client serials %v, want %s then the new %s", got, oldClient, serial(clientCert.Load()))
	}
	call(old)
}
