package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"

	"github.com/edgeplane/edgeplane/transport/resilience"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
	"github.com/quic-go/quic-go"
)

// ALPN is the application protocol both sides must negotiate.
const ALPN = "edgeplane/1"

// Defaults of ServerConfig and ClientConfig.
const (
	DefaultAddr = ":7947"
	// DefaultMaxConcurrentStreams is the number of calls one client
	// connection may have in flight; further calls wait for a slot.
	DefaultMaxConcurrentStreams = 1024
	// DefaultConnReceiveWindow bounds what one connection may have in
	// flight towards this node, and so the memory a peer can pin here.
	DefaultConnReceiveWindow = 4 << 20
	// DefaultStreamReceiveWindow is a stream's starting window; it grows
	// up to DefaultConnReceiveWindow for large messages.
	DefaultStreamReceiveWindow = 512 << 10
	// DefaultKeepAlive is shorter than common NAT and firewall UDP
	// timeouts (30 s and up), so idle connections keep their mappings.
	DefaultKeepAlive = 15 * time.Second
	// DefaultIdleTimeout closes a connection after three keep-alive
	// periods without any packet from the peer: a dead peer is noticed
	// within 45 s even when no call is made.
	DefaultIdleTimeout = 45 * time.Second
	// DefaultHandshakeTimeout bounds the QUIC and TLS handshake.
	DefaultHandshakeTimeout = 5 * time.Second
	// DefaultDialTimeout bounds connecting to a peer.
	DefaultDialTimeout = 5 * time.Second
	// DefaultRequestReadTimeout bounds how long the server waits for a
	// call's header and request after the stream opens.
	DefaultRequestReadTimeout = 10 * time.Second
)

// TLSConfig is this node's identity and how it checks its peers'. The
// transport always runs TLS 1.3 with ALPN "edgeplane/1" and always
// requires a client certificate; these two fields are all it needs.
type TLSConfig struct {
	// Certificate is presented to every peer, as server and as client,
	// unless GetCertificate is set. It also derives the QUIC stateless
	// reset key.
	Certificate *tls.Certificate
	// GetCertificate, if set, is asked at every handshake, as server and
	// as client, for the certificate to present (tlsmesh.Live.Certificate):
	// a new one then serves the next handshakes while open connections
	// keep theirs. It must not return nil.
	GetCertificate func() *tls.Certificate
	// VerifyPeer checks a peer's certificate and returns the node it
	// names; an error refuses the handshake. See package tlsmesh for the
	// fleet CA and pinned verifiers.
	VerifyPeer func(cs tls.ConnectionState) (node string, err error)
}

func (c TLSConfig) validate(prefix string) []error {
	var errs []error
	if c.Certificate == nil || len(c.Certificate.Certificate) == 0 {
		errs = append(errs, fmt.Errorf("%sTLS.Certificate: required", prefix))
	}
	if c.VerifyPeer == nil {
		errs = append(errs, fmt.Errorf("%sTLS.VerifyPeer: required", prefix))
	}
	return errs
}

// statelessResetKey derives the key for QUIC stateless resets from the
// node's private key, so it survives restarts: a peer that still holds a
// connection to the previous process learns at its next packet that the
// connection is gone, instead of waiting for the idle timeout.
func statelessResetKey(cert *tls.Certificate) *quic.StatelessResetKey {
	k, ok := tlsmesh.DeriveKey(cert, "edgeplane/1 stateless reset key")
	if !ok {
		return nil
	}
	return (*quic.StatelessResetKey)(&k)
}

func baseTLS(c TLSConfig) *tls.Config {
	t := &tls.Config{
		MinVersion: tls.VersionTLS13,
		MaxVersion: tls.VersionTLS13,
		NextProtos: []string{ALPN},
	}
	if get := c.GetCertificate; get != nil {
		t.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return get(), nil }
		t.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return get(), nil }
	} else {
		t.Certificates = []tls.Certificate{*c.Certificate}
	}
	return t
}

// serverTLS requires a client certificate and checks it with VerifyPeer.
func serverTLS(c TLSConfig, log *slog.Logger) *tls.Config {
	t := baseTLS(c)
	t.ClientAuth = tls.RequireAnyClientCert
	t.SessionTicketsDisabled = true
	t.VerifyConnection = func(cs tls.ConnectionState) error {
		if _, err := c.VerifyPeer(cs); err != nil {
			log.Warn("rpc: refused peer certificate", "err", err)
			return err
		}
		return nil
	}
	return t
}

// ErrPeerMismatch: the server's certificate is valid but names another
// node than the one dialled.
var ErrPeerMismatch = errors.New("transport: peer certificate names another node")

// clientTLS checks the server's certificate with VerifyPeer and requires
// it to name node, when node is set.
func clientTLS(c TLSConfig, node string) *tls.Config {
	t := baseTLS(c)
	t.ServerName = node
	// Chain and name checks are VerifyPeer's: it knows the trust mode.
	t.InsecureSkipVerify = true
	t.VerifyConnection = func(cs tls.ConnectionState) error {
		got, err := c.VerifyPeer(cs)
		if err != nil {
			return err
		}
		if node != "" && got != node {
			return fmt.Errorf("%w: dialled %q, certificate names %q", ErrPeerMismatch, node, got)
		}
		return nil
	}
	return t
}

// quicConfig is sized on purpose; see the constants' comments. 0-RTT is
// never enabled: its data can be replayed by an attacker.
func quicConfig(maxStreams int, keepAlive, idle, handshake time.Duration) *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:           handshake,
		MaxIdleTimeout:                 idle,
		KeepAlivePeriod:                keepAlive,
		MaxIncomingStreams:             int64(maxStreams),
		MaxIncomingUniStreams:          -1,
		InitialStreamReceiveWindow:     DefaultStreamReceiveWindow,
		MaxStreamReceiveWindow:         DefaultConnReceiveWindow,
		InitialConnectionReceiveWindow: DefaultConnReceiveWindow,
		MaxConnectionReceiveWindow:     DefaultConnReceiveWindow,
		Allow0RTT:                      false,
		// The server hands stream credit back in batches (see
		// creditBatch), so a call costs one packet each way instead of
		// a further MAX_STREAMS packet and the ACK it provokes.
		RequireStreamCreditRelease: maxStreams > 0,
	}
}

// ServerConfig configures a Server. Zero fields take the defaults named.
type ServerConfig struct {
	// Addr is the UDP address to listen on. Default ":7947".
	Addr string
	// PacketConn, if set, is used instead of listening on Addr (for
	// example a socket wrapped to inject faults). The server closes it.
	PacketConn net.PacketConn
	// TLS is required.
	TLS TLSConfig
	// Interceptors wrap every call, the first outermost.
	Interceptors []Interceptor
	// Limits bound what callers may send.
	Limits Limits
	// MaxConcurrentStreams is the number of calls one connection may have
	// in flight. Default 1024.
	MaxConcurrentStreams int
	// KeepAlive is the period of keep-alive packets. Default 15s.
	KeepAlive time.Duration
	// IdleTimeout closes a connection silent for that long. Default 45s.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds a handshake. Default 5s.
	HandshakeTimeout time.Duration
	// RequestReadTimeout bounds the wait for a call's request. Default 10s.
	RequestReadTimeout time.Duration
	// Logger receives the server's own events. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports every invalid field, each named.
func (c ServerConfig) Validate() error {
	errs := c.TLS.validate("ServerConfig.")
	errs = append(errs, c.Limits.validate("ServerConfig.")...)
	if c.Addr != "" && c.PacketConn == nil {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			errs = append(errs, fmt.Errorf("ServerConfig.Addr: %w", err))
		}
	}
	if c.MaxConcurrentStreams < 0 || c.MaxConcurrentStreams > 1<<20 {
		errs = append(errs, fmt.Errorf("ServerConfig.MaxConcurrentStreams: must be between 1 and %d, got %d", 1<<20, c.MaxConcurrentStreams))
	}
	errs = append(errs, durations("ServerConfig.", map[string]time.Duration{
		"KeepAlive": c.KeepAlive, "IdleTimeout": c.IdleTimeout,
		"HandshakeTimeout": c.HandshakeTimeout, "RequestReadTimeout": c.RequestReadTimeout,
	})...)
	return errors.Join(errs...)
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	c.KeepAlive = orDefault(c.KeepAlive, DefaultKeepAlive)
	c.IdleTimeout = orDefault(c.IdleTimeout, DefaultIdleTimeout)
	c.HandshakeTimeout = orDefault(c.HandshakeTimeout, DefaultHandshakeTimeout)
	c.RequestReadTimeout = orDefault(c.RequestReadTimeout, DefaultRequestReadTimeout)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Limits = c.Limits.withDefaults()
	return c
}

// ClientConfig configures a Client. Zero fields take the defaults named.
type ClientConfig struct {
	// TLS is required.
	TLS TLSConfig
	// PacketConn, if set, is the client's socket instead of a fresh UDP
	// socket on an ephemeral port. The client closes it.
	PacketConn net.PacketConn
	// Interceptors wrap every attempt of every call, the first outermost.
	Interceptors []Interceptor
	// Limits bound what servers may send back.
	Limits Limits
	// DialTimeout bounds connecting to a peer. Default 5s.
	DialTimeout time.Duration
	// KeepAlive is the period of keep-alive packets. Default 15s.
	KeepAlive time.Duration
	// IdleTimeout closes a connection silent for that long. Default 45s.
	IdleTimeout time.Duration
	// Clock paces retries and drives circuit breakers. Default the
	// system clock.
	Clock resilience.Clock
	// Rand draws retry jitter and balancer choices. Default a randomly
	// seeded generator; tests pass a fixed seed.
	Rand *rand.Rand
	// Logger receives the client's own events. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports every invalid field, each named.
func (c ClientConfig) Validate() error {
	errs := c.TLS.validate("ClientConfig.")
	errs = append(errs, c.Limits.validate("ClientConfig.")...)
	errs = append(errs, durations("ClientConfig.", map[string]time.Duration{
		"DialTimeout": c.DialTimeout, "KeepAlive": c.KeepAlive, "IdleTimeout": c.IdleTimeout,
	})...)
	return errors.Join(errs...)
}

func (c ClientConfig) withDefaults() ClientConfig {
	c.DialTimeout = orDefault(c.DialTimeout, DefaultDialTimeout)
	c.KeepAlive = orDefault(c.KeepAlive, DefaultKeepAlive)
	c.IdleTimeout = orDefault(c.IdleTimeout, DefaultIdleTimeout)
	if c.Clock == nil {
		c.Clock = resilience.SystemClock{}
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Limits = c.Limits.withDefaults()
	return c
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func durations(prefix string, m map[string]time.Duration) []error {
	var errs []error
	for _, name := range []string{"DialTimeout", "KeepAlive", "IdleTimeout", "HandshakeTimeout", "RequestReadTimeout"} {
		if d, ok := m[name]; ok && d < 0 {
			errs = append(errs, fmt.Errorf("%s%s: must not be negative, got %s", prefix, name, d))
		}
	}
	return errs
}
