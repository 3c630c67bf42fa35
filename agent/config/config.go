package config

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
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

	// GossipPort is the TCP and UDP port for gossip. Key gossip_port, flag
	// -gossip-port. Default 7946.
	GossipPort int

	// RPCPort is the UDP port for QUIC RPC. Key rpc_port, flag -rpc-port.
	// Default 7947.
	RPCPort int

	// HTTPAddr is the host:port of the local, Consul-compatible HTTP API.
	// Port 0 picks a free port. Key http_addr, flag -http-addr. Default
	// "127.0.0.1:8500".
	HTTPAddr string

	// RetryJoin lists seed addresses, host or host:port, joined at start and
	// retried until one answers. Key retry_join, flag -join (repeatable),
	// environment variable comma-separated. Default: none.
	RetryJoin []string

	// Encrypt is the base64 (standard encoding) gossip key of 16, 24 or 32
	// bytes. Key encrypt, flag -encrypt. Default "": gossip unencrypted.
	Encrypt string

	// LogLevel is debug, info, warn or error, in any case. Key log_level,
	// flag -log-level. Default "info". See SlogLevel.
	LogLevel string

	// LogJSON switches logs from text to JSON. Key log_json, flag
	// -log-json. Default false.
	LogJSON bool

	// TombstoneTTL is how long deletes are remembered so that a stale
	// replica cannot resurrect a key. Key tombstone_ttl, flag
	// -tombstone-ttl. Default 72h; at least 1m.
	TombstoneTTL Duration

	// Dev is set by the -dev flag (it has no key or environment variable):
	// the agent keeps its state in a temporary directory when DataDir is
	// empty. See DevDefault.
	Dev bool
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
