package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/edgeplane/edgeplane/transport/resilience"
)

// Timing profiles. Each is a starting point for memberlist's probe, gossip
// and suspicion timers; see Profile.
const (
	ProfileLAN  = "lan"  // data-centre or shop-floor LAN: fast detection
	ProfileWAN  = "wan"  // sites joined over the internet
	ProfileEdge = "edge" // lossy, high-latency links (cellular, satellite); UDP packets ≤ 1,200 bytes
	// ProfileLocal is for tests and single-host labs: fastest detection.
	ProfileLocal = "local"
)

// Config configures a Mesh. NodeName, NodeID and either BindAddr with
// BindPort or Transport are required; everything else has a default.
type Config struct {
	NodeName string // unique in the mesh
	NodeID   string // persisted by the caller; unique in the mesh

	// BindAddr and BindPort are where gossip listens (TCP and UDP). Port 0
	// picks a free port.
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort are announced to peers; empty/0 use
	// the bound address and port.
	AdvertiseAddr string
	AdvertisePort int

	// Profile is one of the profile constants. Default ProfileLAN.
	Profile string

	// Tags travel in the node's gossip metadata with the reserved entries
	// (see Meta). The encoded metadata must fit memberlist's 512-byte limit:
	// a larger set is an error from New, never a truncation.
	Tags map[string]string

	// Keyring encrypts gossip when it holds keys; nil gossips in clear.
	Keyring *memberlist.Keyring
	// KeyringFile, when set, is where the keyring is saved after every
	// change so that a restart after a rotation rejoins with the current key.
	KeyringFile string

	// PeersFile, when set, is where the addresses of live peers are saved
	// (when the first peer arrives, then at most once per
	// PeersSaveInterval, and on shutdown) for rejoining after a restart.
	PeersFile         string
	PeersSaveInterval time.Duration // default 1 minute

	// ReconnectInterval is the longest pause between two reconnect tries
	// (see reconnectDelay). Default 30s.
	ReconnectInterval time.Duration
	// ReconnectTimeout is how long a failed member is remembered and
	// retried before it is reaped. Default 72h.
	ReconnectTimeout time.Duration
	// LeftTimeout is how long a member that left is remembered. Default 24h.
	LeftTimeout time.Duration
	// DeadNodeReclaim is how long after a member failed or left its name
	// may come back from another address. Default 30s.
	DeadNodeReclaim time.Duration

	// MaxBroadcastQueue caps the broadcast queue; the oldest messages are
	// dropped past it. Default 4,096.
	MaxBroadcastQueue int
	// BroadcastRetransmitMult sets how many times each node sends each
	// Broadcast message: this times log10(members + 1), rounded up (the
	// limit). A node misses a message only if every send of every node
	// that has it goes elsewhere: about e^-limit of the nodes, per message.
	// Default twice the profile's membership retransmits: 8 on lan, so
	// e^-8 up to 9 members and e^-16 up to 99, instead of e^-4 and e^-8
	// (a missed write waits for anti-entropy).
	BroadcastRetransmitMult int

	// Seeds are rejoined when the mesh looks smaller than it was.
	Seeds []string

	// Transport replaces memberlist's UDP+TCP transport (tests inject a
	// fault-injecting one). When set, BindAddr and BindPort only describe
	// the address it listens on. Its stream dials end at Shutdown if it
	// implements ContextDialer.
	Transport memberlist.NodeAwareTransport

	// Logger receives the mesh's logs. Default slog.Default().
	Logger *slog.Logger
	// Clock paces join retries. Default resilience.SystemClock.
	Clock resilience.Clock
}

// Errors from New and Validate.
var (
	ErrConfig       = errors.New("gossip: invalid config")
	ErrMetaTooLarge = errors.New("gossip: node metadata over the 512-byte limit")
)

// Validate reports the first problem with c, naming the field.
func (c *Config) Validate() error {
	switch {
	case c.NodeName == "":
		return fmt.Errorf("%w: NodeName is required", ErrConfig)
	case c.NodeID == "":
		return fmt.Errorf("%w: NodeID is required", ErrConfig)
	case c.Transport == nil && net.ParseIP(c.BindAddr) == nil:
		return fmt.Errorf("%w: BindAddr %q is not an IP address", ErrConfig, c.BindAddr)
	case c.BindPort < 0 || c.BindPort > 65535:
		return fmt.Errorf("%w: BindPort %d out of range", ErrConfig, c.BindPort)
	case c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil:
		return fmt.Errorf("%w: AdvertiseAddr %q is not an IP address", ErrConfig, c.AdvertiseAddr)
	case c.AdvertisePort < 0 || c.AdvertisePort > 65535:
		return fmt.Errorf("%w: AdvertisePort %d out of range", ErrConfig, c.AdvertisePort)
	}
	if _, err := profile(c.Profile); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ReconnectInterval", c.ReconnectInterval}, {"ReconnectTimeout", c.ReconnectTimeout},
		{"LeftTimeout", c.LeftTimeout}, {"DeadNodeReclaim", c.DeadNodeReclaim},
		{"PeersSaveInterval", c.PeersSaveInterval},
	} {
		if d.v < 0 {
			return fmt.Errorf("%w: %s %v is negative", ErrConfig, d.name, d.v)
		}
	}
	if _, err := encodeMeta(c.meta()); err != nil {
		return err
	}
	return nil
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.Profile == "" {
		d.Profile = ProfileLAN
	}
	def := func(v *time.Duration, x time.Duration) {
		if *v == 0 {
			*v = x
		}
	}
	def(&d.ReconnectInterval, 30*time.Second)
	def(&d.ReconnectTimeout, 72*time.Hour)
	def(&d.LeftTimeout, 24*time.Hour)
	def(&d.DeadNodeReclaim, 30*time.Second)
	def(&d.PeersSaveInterval, time.Minute)
	if d.MaxBroadcastQueue <= 0 {
		d.MaxBroadcastQueue = 4096
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Clock == nil {
		d.Clock = resilience.SystemClock{}
	}
	return d
}

// profile returns memberlist's tuned config for a profile name.
//
// Detection time (until every member sees a killed node failed) is roughly
// ProbeInterval × (1 + SuspicionMult × log10(N+1)) plus gossip spread; see
// the README's membership figures for measured values.
func profile(name string) (*memberlist.Config, error) {
	switch name {
	case "", ProfileLAN:
		c := memberlist.DefaultLANConfig()
		// Edge sites are small LANs: probe every 500 ms (memberlist: 1 s)
		// with a 250 ms timeout, and suspect for 2 × log10(N) probe
		// intervals (at least two) rather than 4 before declaring a node
		// failed, with no confirmation awaited. A probe only turns into a
		// suspicion when the direct ping, three indirect ones and a TCP
		// ping all go unanswered, so lost packets alone do not make one
		// (none in ten minutes at 5 % loss, BenchmarkFalseFailures);
		// Lifeguard's local health still slows a struggling prober down.
		// A killed node is seen failed by all in about 2-3 s (memberlist's
		// LAN settings: 5-7 s) at four probe packets a second per node.
		c.ProbeInterval = 500 * time.Millisecond
		c.ProbeTimeout = 250 * time.Millisecond
		c.SuspicionMult = 2
		// Spread news twice as often; a round with nothing queued sends
		// nothing, so an idle mesh pays only a timer.
		c.GossipInterval = 100 * time.Millisecond
		return c, nil
	case ProfileWAN:
		return memberlist.DefaultWANConfig(), nil
	case ProfileEdge:
		c := memberlist.DefaultWANConfig()
		// Cellular and satellite links: long round trips, loss, small MTU.
		c.UDPBufferSize = 1200
		c.ProbeTimeout = 3 * time.Second
		c.ProbeInterval = 5 * time.Second
		c.SuspicionMult = 6
		c.IndirectChecks = 4
		c.RetransmitMult = 5
		c.TCPTimeout = 30 * time.Second
		return c, nil
	case ProfileLocal:
		c := memberlist.DefaultLocalConfig()
		c.ProbeInterval = 200 * time.Millisecond
		c.ProbeTimeout = 100 * time.Millisecond
		c.GossipInterval = 50 * time.Millisecond
		c.PushPullInterval = 2 * time.Second
		c.GossipToTheDeadTime = 2 * time.Second
		return c, nil
	}
	return nil, fmt.Errorf("%w: Profile %q is not lan, wan, edge or local", ErrConfig, name)
}
