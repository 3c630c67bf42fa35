package telemetry

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/relay"
	"github.com/edgeplane/edgeplane/agent/render"
	"github.com/edgeplane/edgeplane/agent/replica"
	"github.com/edgeplane/edgeplane/agent/tracing"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/gossip/quicnet"
	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/transport"
)

// DefaultPeerLimit is the default of Config.PeerLimit (metrics_peer_limit).
const DefaultPeerLimit = 32

// Mesh is what the gossip series read; *gossip.Mesh implements it.
type Mesh interface {
	Members() []gossip.Member
	Undecryptable() uint64
	Refused() uint64
	BroadcastQueue() (queued int, pruned uint64)
}

// Transport is gossip's carriage; *quicnet.Transport implements it.
type Transport interface {
	Stats() quicnet.Stats
}

// Replication is what the replication series read; *replica.Service
// implements it.
type Replication interface {
	Stats() replica.Stats
	PeerStats() []replica.PeerStats
	SyncMark() store.Stamp
	ClockOffset() (median time.Duration, readings int)
	MaxClockDrift() time.Duration
}

// RPC is the agent's RPC endpoint: the metrics its interceptors keep of
// the calls it serves and makes, and its client's circuit breakers.
type RPC interface {
	Calls() (served, made map[string]transport.MethodStats)
	Breakers() []transport.BreakerStat
}

// Store is what the store series read; *store.Store implements it.
type Store interface {
	Index() uint64
	Clock() *store.Clock
	Stats() store.Stats
}

// Catalog is this node's part of the service catalog; *catalog.Catalog
// implements it.
type Catalog interface {
	Services() []catalog.Instance
	Checks() []catalog.CheckState
}

// Config says where the metrics are read from. Each source is read at
// scrape time, never on the paths it measures. A nil source leaves out
// its series.
type Config struct {
	Mesh        Mesh
	Transport   Transport
	Replication Replication
	Store       Store
	// StoreFile is the path of the store's data file, whose size is
	// reported; "" leaves it out.
	StoreFile string
	// DataDir is the data dir, whose file system's free space is
	// reported; "" leaves it out.
	DataDir string
	RPC     RPC
	// HTTP returns the HTTP API's limits and refusals.
	HTTP func() httpapi.Limits
	// HTTPRequests returns the HTTP API's requests by route.
	HTTPRequests func() []httpapi.RouteRequests
	Catalog      Catalog
	// Relay returns the counts of the metrics relay (package relay).
	Relay func() relay.Stats
	// Renders returns the render blocks' failure counts (package
	// render); nil when the agent has none.
	Renders func() []render.Failure
	// ScrapeRefused returns the requests metrics_addr refused for their
	// token; nil when there is no metrics_addr.
	ScrapeRefused func() uint64
	// Tracing returns the span exporter's counts (package tracing).
	Tracing func() tracing.Stats

	// PeerLimit is how many peers get series of their own
	// (metrics_peer_limit): those whose anti-entropy is in the worst
	// state. The others are summed under peer="other". 0 lists none.
	// Default (in the agent's configuration) DefaultPeerLimit.
	PeerLimit int

	// Version and Commit label edgeplane_build_info.
	Version, Commit string

	// Now reads the wall clock. Default time.Now.
	Now func() time.Time
}

// Validate reports a configuration New refuses, with an error wrapping
// ErrConfig that names the field.
func (c *Config) Validate() error {
	if c.PeerLimit < 0 {
		return fmt.Errorf("%w: PeerLimit (metrics_peer_limit) %d is negative", ErrConfig, c.PeerLimit)
	}
	return nil
}

// Metrics is the agent's metrics: it reads its sources when asked, and
// writes them in the Prometheus text format or Consul's JSON shape. It
// keeps nothing between scrapes and starts no goroutine. It implements
// httpapi.Metrics.
type Metrics struct {
	cfg Config
	set *metrics.Set // this agent's, never the library's global one
	// peerLimit is Config.PeerLimit, changed by SetPeerLimit.
	peerLimit atomic.Int64
}

// ErrConfig is wrapped by the errors of Config.Validate.
var ErrConfig = errors.New("telemetry: bad configuration")

// New returns the metrics of cfg's sources.
func New(cfg Config) (*Metrics, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Metrics{cfg: cfg, set: metrics.NewSet()}
	m.peerLimit.Store(int64(cfg.PeerLimit))
	m.set.RegisterMetricsWriter(func(w io.Writer) { writeText(w, m.read()) })
	m.set.RegisterMetricsWriter(writeProcess)
	return m, nil
}

// SetPeerLimit changes Config.PeerLimit from the next scrape on (a
// reloaded metrics_peer_limit). A negative n is taken as 0.
func (m *Metrics) SetPeerLimit(n int) { m.peerLimit.Store(int64(max(n, 0))) }

// WritePrometheus writes the catalogue's series, then the go_ and
// process_ series, in the Prometheus text format, version 0.0.4, each
// family with its HELP and TYPE lines.
func (m *Metrics) WritePrometheus(w io.Writer) { m.set.WritePrometheus(w) }

// storeFileSize returns the size of the store's data file.
func storeFileSize(path string) (int64, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	return fi.Size(), true
}
