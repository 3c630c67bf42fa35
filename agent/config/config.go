package config

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/edgeplane/edgeplane/agent/layers"
	"github.com/edgeplane/edgeplane/agent/tracing"
)

// Config is the agent's complete configuration. Each field is one option;
// its configuration key, flag and environment variable are listed in the
// option table (options.go) and in the comment below. Build one with Default
// or DevDefault, or let a Loader layer files, environment and flags on top.
type Config struct {
	// NodeName names this node; it must be unique in the mesh. Key
	// node_name, flag -node. Default: the host name (os.Hostname).
	NodeName string

	// Datacenter is reported to Consul clients. Key datacenter, flag
	// -datacenter. Default "dc1".
	Datacenter string

	// Site names the edge location (a store, a tower, a truck). Key site,
	// flag -site. Default "" (none).
	Site string

	// Environment names the environment the node runs in (dev, staging,
	// prod...), as site names go; it fills the {{env}} placeholder of
	// Layers. Key environment, flag -environment. Default "" (none).
	Environment string

	// Layers lists the KV key prefixes a key is resolved through (package
	// agent/layers, /v1/edgeplane/resolve/), most specific first. The
	// placeholders {{node}}, {{site}} and {{env}} stand for NodeName, Site
	// and Environment; a layer whose placeholder is empty is skipped. At
	// most 16. Key layers, flag -layer (repeatable), environment variable
	// comma-separated. Default node/{{node}}, site/{{site}}, env/{{env}},
	// global.
	Layers []string

	// DataDir holds the node's persistent state. Key data_dir, flag
	// -data-dir. Default "/var/lib/edgeplane"; empty in dev mode, where the
	// agent creates a temporary directory instead.
	DataDir string

	// BindAddr is the IP address gossip and RPC listen on. Key bind_addr,
	// flag -bind. Default "0.0.0.0"; "127.0.0.1" in dev mode.
	BindAddr string

	// AdvertiseAddr is the IP address announced to peers, for nodes behind
	// NAT or with several interfaces. Key advertise_addr, flag -advertise.
	// Default "": peers learn the address the agent picks from BindAddr.
	AdvertiseAddr string

	// GossipPort is the UDP port gossip runs on, over QUIC. Key gossip_port, flag
	// -gossip-port. Default 7946.
	GossipPort int

	// RPCPort is the UDP port for QUIC RPC. Key rpc_port, flag -rpc-port.
	// Default 7947.
	RPCPort int

	// HTTPAddr is the host:port of the local, Consul-compatible HTTP API.
	// Port 0 picks a free port. Key http_addr, flag -http-addr. Default
	// "127.0.0.1:8500".
	HTTPAddr string

	// HTTPAllowedHosts lists host names and IP addresses, without port,
	// that requests to the HTTP API may name in Host (and cross-site
	// writes in Origin) besides loopback ones and this node's addresses;
	// others are refused with 403, a guard against DNS rebinding. Key
	// http_allowed_hosts, flag -http-allowed-host (repeatable),
	// environment variable comma-separated. Default: none.
	HTTPAllowedHosts []string

	// HTTPMaxConnsPerClient caps the connections one client IP address
	// holds to the HTTP API; past it new ones are closed at accept. Local
	// clients all connect from 127.0.0.1, so this is what one local
	// process may hold. 0 sets no cap. Key http_max_conns_per_client, flag
	// -http-max-conns-per-client. Default 200, as Consul's.
	HTTPMaxConnsPerClient int

	// HTTPMaxConns caps the connections all clients together hold to the
	// HTTP API; past it new ones are closed at accept. A connection holds
	// about 20 KiB, idle or not, so the default bounds them to about 40 MiB
	// even for a process that connects from many loopback addresses. 0
	// sets no cap. Key http_max_conns, flag -http-max-conns. Default 2048.
	HTTPMaxConns int

	// HTTPMaxBlockingQueries caps the blocking queries the HTTP API serves
	// at once; past it they are answered 429 with Retry-After. One holds
	// about 20 KiB, so the default holds about 20 MiB at most, whatever the
	// number attempted. 0 sets no cap. Key http_max_blocking_queries, flag
	// -http-max-blocking-queries. Default 1024.
	HTTPMaxBlockingQueries int

	// MetricsPeerLimit is how many peers get metric series of their own
	// (per-peer replication series of /metrics): those whose anti-entropy
	// is in the worst state; the others are summed up under
	// peer="other", so that a large fleet cannot swell a scrape. 0 lists
	// none. Key metrics_peer_limit, flag -metrics-peer-limit. Default 32.
	MetricsPeerLimit int

	// MetricsAddr is the host:port of a second listener that serves only
	// the agent's metrics to a central Prometheus: GET /metrics, and GET
	// /metrics?node=NAME, which relays another member's metrics over RPC
	// (for nodes the scraper cannot reach). Every other path is 404. When
	// set, the agent's own service "edgeplane" is registered on its port
	// rather than the HTTP API's. Off loopback it needs
	// MetricsBearerTokenFile. Key metrics_addr, flag -metrics-addr.
	// Default "": no such listener.
	MetricsAddr string

	// MetricsTLS serves MetricsAddr over TLS (1.2 or later) with this
	// node's fleet certificate (TLS.CertFile, TLS.KeyFile), which
	// scrapers verify with the fleet CA under the node's name. It
	// authenticates the node, not the scraper: that is the bearer
	// token's part. It needs the fleet CA mode (the tls section). Key
	// metrics_tls, flag -metrics-tls. Default false.
	MetricsTLS bool

	// MetricsBearerTokenFile names a file whose content (surrounding
	// white space trimmed) is the token every request to MetricsAddr must
	// present in "Authorization: Bearer"; others are answered 401. The
	// file must not be open to every user. Read at start. Key
	// metrics_bearer_token_file, flag -metrics-bearer-token-file. Default
	// "": no token asked, allowed only on a loopback MetricsAddr.
	MetricsBearerTokenFile string

	// RetryJoin lists seed addresses, host or host:port, joined at start and
	// retried until one answers. Key retry_join, flag -join (repeatable),
	// environment variable comma-separated. Default: none.
	RetryJoin []string

	// RetryMax is how many join attempts are made before the agent gives
	// up and serves alone; 0 retries forever. Key retry_max, flag
	// -retry-max. Default 0.
	RetryMax int

	// RetryInterval is the first wait between join attempts; it doubles
	// after each failure up to 5 minutes, with jitter. Key retry_interval,
	// flag -retry-interval. Default 5s.
	RetryInterval Duration

	// Profile is the gossip timing profile: lan, wan or edge. Key profile,
	// flag -profile. Default "lan".
	Profile string

	// Tags are gossiped to peers in the node's metadata, which must fit in
	// 512 bytes with the reserved entries. Key tags (a mapping), flag -tag
	// KEY=VALUE (repeatable), environment KEY=VALUE,KEY=VALUE. Default none.
	Tags map[string]string

	// ReconnectInterval is the longest pause between two tries to reach a
	// failed member (gossip paces them by the age of the failures). Key
	// reconnect_interval, flag -reconnect-interval. Default 30s.
	ReconnectInterval Duration

	// ReconnectTimeout is how long a failed member is retried before it is
	// forgotten. Key reconnect_timeout, flag -reconnect-timeout. Default 72h.
	ReconnectTimeout Duration

	// DeadNodeReclaim is how long after a node failed or left its name may
	// come back from another address or port. Key dead_node_reclaim, flag
	// -dead-node-reclaim. Default 30s.
	DeadNodeReclaim Duration

	// LeaveOnTerminate makes SIGTERM and SIGINT leave the mesh gracefully,
	// so peers see "left" rather than "failed". Key leave_on_terminate,
	// flag -leave-on-terminate. Default true.
	LeaveOnTerminate bool

	// TLS selects the fleet-CA trust mode for RPC between agents: set all
	// three files, or none (then each node pins a self-signed certificate
	// announced over gossip). Keys tls.ca_file, tls.cert_file,
	// tls.key_file (a tls: section in files), flags -tls-ca-file,
	// -tls-cert-file, -tls-key-file.
	TLS TLSConfig

	// MaxBroadcastQueue caps the gossip broadcast queue; past it the oldest
	// messages are dropped (anti-entropy repairs what they carried). Writes
	// are pushed over RPC instead of gossiped while a quarter of it (at
	// most 128 messages) waits, so writes alone do not fill it. Key
	// max_broadcast_queue, flag -max-broadcast-queue. Default 4096.
	MaxBroadcastQueue int

	// MaxClockDrift is how far ahead of this node's clock a replicated
	// write's stamp may be; later ones are rejected and counted, so a
	// device with a wrong clock cannot pin keys. Key max_clock_drift, flag
	// -max-clock-drift. Default 5m.
	MaxClockDrift Duration

	// Encrypt is the base64 (standard encoding) gossip key of 16, 24 or 32
	// bytes. Key encrypt, flag -encrypt. Default "": gossip unencrypted.
	// A flag shows the key to every local user through ps; EncryptFile
	// keeps it in a file instead. Use GossipKey to read whichever is set.
	Encrypt string

	// EncryptFile names a file whose content (surrounding white space
	// trimmed) is the gossip key, as for Encrypt. Key encrypt_file, flag
	// -encrypt-file. Default "". Setting both is an error.
	EncryptFile string

	// JoinToken enrols a new device: a token made by `edgeplane
	// join-token` on a member (package jointoken), holding the mesh's
	// gossip key and seed addresses. At start, when the data dir has no
	// keyring and no Encrypt or EncryptFile is set, the agent installs the
	// token's key as its keyring; its seeds are joined besides RetryJoin
	// at every start. Key join_token, flag -join-token. Default "". A flag
	// shows the token to every local user through ps; JoinTokenFile keeps
	// it in a file instead. Use ReadJoinToken to read whichever is set.
	JoinToken string

	// JoinTokenFile names a file whose content (surrounding white space
	// trimmed) is the join token, as for JoinToken. Key join_token_file,
	// flag -join-token-file. Default "". Setting both is an error.
	JoinTokenFile string

	// InsecureMesh lets an agent whose bind_addr or advertise_addr is not
	// a loopback address run without mesh authentication (no TLS, no
	// gossip key, no join token), where anyone who reaches its ports may
	// join the mesh, read and write its data. Without it such an agent
	// refuses to start. It changes nothing on loopback or when the mesh is
	// authenticated. Key insecure_mesh, flag -insecure-mesh. Default
	// false.
	InsecureMesh bool

	// LogLevel is debug, info, warn or error, in any case. Key log_level,
	// flag -log-level. Default "info". See SlogLevel.
	LogLevel string

	// LogJSON switches logs from text to JSON. Key log_json, flag
	// -log-json. Default false.
	LogJSON bool

	// TombstoneTTL is how long deletes are kept at least; they are kept
	// longer while a member the mesh remembers has not synced past them,
	// so that no replica can resurrect a key. Key tombstone_ttl, flag
	// -tombstone-ttl. Default 72h; at least 1m.
	TombstoneTTL Duration

	// HistoryVersions is how many versions of each KV key the node keeps
	// in its history (edgeplane kv history, kv rollback); 0 keeps none.
	// Key history_versions, flag -history-versions. Default 10; at most
	// 1000. Takes effect at restart.
	HistoryVersions int

	// HistoryMaxBytes caps the node's history; past it the oldest
	// versions of any key are dropped first. A size with a unit (KiB, MiB,
	// GiB, kB, MB, GB) or a number of bytes, from 64KiB to 1GiB. Key
	// history_max_bytes, flag -history-max-bytes. Default 16MiB. Takes
	// effect at restart.
	HistoryMaxBytes string

	// MemoryLimit is the Go runtime's soft memory limit
	// (runtime/debug.SetMemoryLimit): as the agent's memory nears it, the
	// garbage collector runs harder. It is not a cap; set MemoryMax in the
	// systemd unit for that. A size with a unit (KiB, MiB, GiB, kB, MB, GB)
	// or a number of bytes, at least 16MiB, or "off" to leave the runtime's
	// setting (GOMEMLIMIT) alone. Key memory_limit, flag -memory-limit.
	// Default DefaultMemoryLimit, 192MiB, sized for a 512 MB device.
	// GOMAXPROCS is left to the Go runtime, which follows the CPU quota.
	MemoryLimit string

	// ACL configures tokens for the local HTTP API: the acl section
	// (ACLConfig). Default: disabled.
	ACL ACLConfig

	// Services are service definitions (ServiceDef) registered at start;
	// on reload new and changed ones are registered again and removed
	// ones deregistered. Key services, in files only: the lists of every
	// file are appended. Default: none.
	Services []ServiceDef

	// Watches are exec watches (WatchDef): each runs its handler with the
	// JSON of a view (a key, a prefix, the services, a service's
	// instances, checks) at start and when the view changes, as Consul's
	// watches do. On reload new ones start and removed ones stop. Key
	// watches, in files only: the lists of every file are appended.
	// Default: none.
	Watches []WatchDef

	// Render are the files written from templates over the local store
	// (RenderDef, package render). Key render, in files only: the lists
	// of every file are appended. They change on restart. Default: none.
	Render []RenderDef

	// Communication are the policies of the calls between services
	// through the proxy (CommunicationDef, package proxy): an exact pair
	// beats from "*", which beats to "*". Key communication, in files
	// only: the lists of every file are appended. They change on
	// restart. Default: none (the proxy's defaults).
	Communication []CommunicationDef

	// Tracing is the tracing of the calls through the proxy (package
	// tracing): keys tracing.sample_ratio and tracing.otlp_endpoint (a
	// tracing: section in files), flags -tracing-sample-ratio,
	// -tracing-otlp-endpoint.
	Tracing TracingConfig

	// RenderBeforeSync lets render blocks write before this node has
	// ever completed a sync or bootstrap, from a store that may be empty
	// or partial. Key render_before_sync, flag -render-before-sync.
	// Default false (true in dev mode).
	RenderBeforeSync bool

	// EnableLocalScriptChecks lets the services of the configuration files
	// have script checks (args); the local HTTP API refuses them always,
	// as any local process may call it. Key
	// enable_local_script_checks, flag -enable-local-script-checks.
	// Default false.
	EnableLocalScriptChecks bool

	// EnableDebug serves the Go runtime's profiles (CPU, heap, goroutines
	// and the other runtime/pprof profiles) under /debug/pprof/ on the
	// local HTTP API, to loopback clients only and, with ACLs on, to
	// tokens with agent write. Profiles show the agent's code paths and
	// memory use, and a CPU profile costs CPU while it runs. Key
	// enable_debug, flag -enable-debug. Default false.
	EnableDebug bool

	// CatalogSyncInterval is how often the catalog's anti-entropy makes
	// the replicated catalog agree with what this node registered:
	// missing or changed records of this node are written again, records
	// under its name it does not hold are removed. Key
	// catalog_sync_interval, flag -catalog-sync-interval. Default 60s; at
	// least 1s.
	CatalogSyncInterval Duration

	// Dev is set by the -dev flag (it has no key or environment variable):
	// the agent keeps its state in a temporary directory when DataDir is
	// empty. See DevDefault.
	Dev bool

	// extra holds the values of options this package's tests register,
	// by key, so that they need no field of their own. Nil in the agent.
	// It is replaced, never written to, so copies of a Config stay apart.
	extra map[string]any
}

// Default returns the production defaults. NodeName is the host name, or
// empty (and rejected by Validate) if the host name cannot be read.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		NodeName:     host,
		Datacenter:   "dc1",
		DataDir:      "/var/lib/edgeplane",
		BindAddr:     "0.0.0.0",
		GossipPort:   7946,
		RPCPort:      7947,
		HTTPAddr:     "127.0.0.1:8500",
		LogLevel:     "info",
		TombstoneTTL: Duration{72 * time.Hour},
		Layers:       slices.Clone(layers.Default),

		HTTPMaxConnsPerClient:  200,
		HTTPMaxConns:           2048,
		HTTPMaxBlockingQueries: 1024,
		MetricsPeerLimit:       32,

		RetryInterval:     Duration{5 * time.Second},
		Profile:           "lan",
		ReconnectInterval: Duration{30 * time.Second},
		ReconnectTimeout:  Duration{72 * time.Hour},
		DeadNodeReclaim:   Duration{30 * time.Second},
		LeaveOnTerminate:  true,
		MaxClockDrift:     Duration{5 * time.Minute},
		MaxBroadcastQueue: 4096,
		MemoryLimit:       DefaultMemoryLimit,
		Tracing:           TracingConfig{SampleRatio: tracing.DefaultSampleRatio},
		HistoryVersions:   DefaultHistoryVersions,
		HistoryMaxBytes:   DefaultHistoryMaxBytes,
		ACL:               ACLConfig{DefaultPolicy: "deny"},

		CatalogSyncInterval: Duration{time.Minute},
	}
}

// DevDefault returns the defaults for -dev: Dev is set, DataDir is empty (the
// agent uses a temporary directory) and the agent binds to 127.0.0.1 so a
// development node never gossips with the network around it. Anything set
// explicitly in a file, the environment or a flag still wins.
func DevDefault() Config {
	c := Default()
	c.Dev = true
	c.DataDir = ""
	c.BindAddr = "127.0.0.1"
	return c
}

// SlogLevel returns LogLevel as a slog.Level. An unrecognised level, which
// Validate rejects, maps to slog.LevelInfo.
func (c Config) SlogLevel() slog.Level {
	if l, ok := logLevels[strings.ToLower(c.LogLevel)]; ok {
		return l
	}
	return slog.LevelInfo
}

// logLevels are the accepted LogLevel values, in lower case.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// TLSConfig names the fleet CA and this node's certificate and key.
type TLSConfig struct {
	CAFile, CertFile, KeyFile string
}

// Enabled reports whether any TLS file is set.
func (t TLSConfig) Enabled() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// Duration is a time.Duration written in Go syntax ("72h", "30s", "1h30m")
// in files, environment variables and flags. A bare number other than 0 has
// no unit and is rejected. It marshals back to the same syntax as text, so
// YAML and JSON encoders print "72h0m0s" rather than nanoseconds.
type Duration struct {
	time.Duration
}

// ParseDuration parses a Go duration string, wrapping failures in ErrType.
func ParseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return Duration{}, typef("expected a duration such as 72h or 30s, got %q", clip(s))
	}
	return Duration{d}, nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = v
	return nil
}
