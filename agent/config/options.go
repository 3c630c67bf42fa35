package config

import (
	"flag"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// options is the option table: the one place an option is defined. Its key
// is the YAML key, its environment variable is EDGEPLANE_ followed by the
// key in upper case, its flag is named in the second column, and the rule
// in the last column is what Validate enforces (nil: any value of the type).
//
// To add an option, add a field to Config with its default in Default, add
// one line here, and, when its type is new, a codec in codec.go.
var options = []option{
	newOption("node_name", "node", "node `name`, unique in the mesh", func(c *Config) *string { return &c.NodeName }, checkNodeName),
	newOption("datacenter", "datacenter", "datacenter `name` reported to Consul clients", func(c *Config) *string { return &c.Datacenter }, checkDatacenter),
	newOption("site", "site", "edge location `name`", func(c *Config) *string { return &c.Site }, checkSite),
	newOption("environment", "environment", "environment `name` (dev, staging, prod...) filling {{env}} in layers", func(c *Config) *string { return &c.Environment }, checkSite),
	newOption("layers", "layer", "KV key `prefix` a key is resolved through, most specific first, with {{node}}, {{site}} or {{env}}; repeat the flag for more", func(c *Config) *[]string { return &c.Layers }, checkLayers),
	newOption("data_dir", "data-dir", "state `directory`", func(c *Config) *string { return &c.DataDir }, nil),
	newOption("bind_addr", "bind", "IP `address` for gossip and RPC", func(c *Config) *string { return &c.BindAddr }, checkBindAddr),
	newOption("advertise_addr", "advertise", "IP `address` announced to peers", func(c *Config) *string { return &c.AdvertiseAddr }, checkAdvertiseAddr),
	newOption("gossip_port", "gossip-port", "UDP `port` for gossip (QUIC with mutual TLS); 0 picks a free port", func(c *Config) *int { return &c.GossipPort }, checkListenPort),
	newOption("rpc_port", "rpc-port", "UDP `port` for QUIC RPC; 0 picks a free port", func(c *Config) *int { return &c.RPCPort }, checkListenPort),
	newOption("http_addr", "http-addr", "`host:port` of the local HTTP API; port 0 picks a free port", func(c *Config) *string { return &c.HTTPAddr }, checkHTTPAddr),
	newOption("http_allowed_hosts", "http-allowed-host", "host `name` or IP address the HTTP API answers besides loopback and this node's; repeat the flag for more", func(c *Config) *[]string { return &c.HTTPAllowedHosts }, checkAllowedHosts),
	newOption("http_max_conns_per_client", "http-max-conns-per-client", "most HTTP API `connections` from one client IP address; 0: no limit", func(c *Config) *int { return &c.HTTPMaxConnsPerClient }, checkNonNegative),
	newOption("http_max_conns", "http-max-conns", "most HTTP API `connections` from all clients together; 0: no limit", func(c *Config) *int { return &c.HTTPMaxConns }, checkNonNegative),
	newOption("http_max_blocking_queries", "http-max-blocking-queries", "most blocking `queries` served at once, past it 429; 0: no limit", func(c *Config) *int { return &c.HTTPMaxBlockingQueries }, checkNonNegative),
	newOption("metrics_peer_limit", "metrics-peer-limit", "most `peers` with metric series of their own (the worst first); the rest are summed up as peer=\"other\"", func(c *Config) *int { return &c.MetricsPeerLimit }, checkNonNegative),
	newOption("metrics_addr", "metrics-addr", "`host:port` of a listener serving only /metrics (and other nodes' through the relay, /metrics?node=NAME); off loopback it needs metrics_bearer_token_file; empty: none", func(c *Config) *string { return &c.MetricsAddr }, checkMetricsAddr),
	newOption("metrics_tls", "metrics-tls", "serve metrics_addr over TLS with this node's fleet certificate (tls.cert_file, tls.key_file)", func(c *Config) *bool { return &c.MetricsTLS }, nil),
	newOption("metrics_bearer_token_file", "metrics-bearer-token-file", "`file` holding the token requests to metrics_addr must present as \"Authorization: Bearer\" (keep it mode 0600)", func(c *Config) *string { return &c.MetricsBearerTokenFile }, nil),
	newOption("retry_join", "join", "seed `address` host[:port]; repeat the flag for more", func(c *Config) *[]string { return &c.RetryJoin }, checkRetryJoin),
	newOption("retry_max", "retry-max", "join `attempts` before giving up and serving alone; 0 retries forever", func(c *Config) *int { return &c.RetryMax }, checkNonNegative),
	newOption("retry_interval", "retry-interval", "first wait between join attempts (`duration`); doubles up to 5m, with jitter", func(c *Config) *Duration { return &c.RetryInterval }, checkPositive),
	newOption("profile", "profile", "gossip timing `profile`: lan, wan or edge", func(c *Config) *string { return &c.Profile }, checkProfile),
	newOption("tags", "tag", "node tag `KEY=VALUE` gossiped to peers; repeat the flag for more", func(c *Config) *map[string]string { return &c.Tags }, checkTags),
	newOption("reconnect_interval", "reconnect-interval", "the longest pause between tries to reach a failed member (`duration`)", func(c *Config) *Duration { return &c.ReconnectInterval }, checkPositive),
	newOption("reconnect_timeout", "reconnect-timeout", "how long a failed member is retried before it is forgotten (`duration`)", func(c *Config) *Duration { return &c.ReconnectTimeout }, checkPositive),
	newOption("dead_node_reclaim", "dead-node-reclaim", "after this `duration` a failed or left node's name may come back from another address", func(c *Config) *Duration { return &c.DeadNodeReclaim }, checkPositive),
	newOption("leave_on_terminate", "leave-on-terminate", "leave the mesh gracefully on SIGTERM and SIGINT", func(c *Config) *bool { return &c.LeaveOnTerminate }, nil),
	newOption("encrypt", "encrypt", "base64 gossip `key` of 16, 24 or 32 bytes (visible in ps: prefer encrypt_file)", func(c *Config) *string { return &c.Encrypt }, checkEncrypt),
	newOption("encrypt_file", "encrypt-file", "`file` holding the base64 gossip key (keep it mode 0600)", func(c *Config) *string { return &c.EncryptFile }, checkEncryptFile),
	newOption("join_token", "join-token", "join `token` from `edgeplane join-token` on a member: its gossip key and seeds (visible in ps: prefer join_token_file)", func(c *Config) *string { return &c.JoinToken }, checkJoinToken),
	newOption("join_token_file", "join-token-file", "`file` holding the join token (keep it mode 0600)", func(c *Config) *string { return &c.JoinTokenFile }, checkJoinTokenFile),
	newOption("insecure_mesh", "insecure-mesh", "run off loopback without mesh authentication (no encrypt, tls or join_token): anyone who reaches the ports joins", func(c *Config) *bool { return &c.InsecureMesh }, nil),
	newOption("log_level", "log-level", "`level` of logging: debug, info, warn or error", func(c *Config) *string { return &c.LogLevel }, checkLogLevel),
	newOption("log_json", "log-json", "write logs as JSON", func(c *Config) *bool { return &c.LogJSON }, nil),
	newOption("tombstone_ttl", "tombstone-ttl", "`duration` deletes are kept at least (longer while a remembered member is away)", func(c *Config) *Duration { return &c.TombstoneTTL }, checkTombstoneTTL),
	newOption("tls.ca_file", "tls-ca-file", "fleet CA certificate `file` (PEM); with cert_file and key_file, peers must present certificates from this CA", func(c *Config) *string { return &c.TLS.CAFile }, nil),
	newOption("tls.cert_file", "tls-cert-file", "this node's certificate `file` (PEM), issued by the fleet CA for the node name", func(c *Config) *string { return &c.TLS.CertFile }, nil),
	newOption("tls.key_file", "tls-key-file", "this node's private key `file` (PEM)", func(c *Config) *string { return &c.TLS.KeyFile }, nil),
	newOption("acl.enabled", "acl-enabled", "require tokens on the local HTTP API (see acl.tokens)", func(c *Config) *bool { return &c.ACL.Enabled }, nil),
	newOption("acl.default_policy", "acl-default-policy", "what a token gets where none of its rules apply: allow or deny (`policy`); never agent write", func(c *Config) *string { return &c.ACL.DefaultPolicy }, checkDefaultPolicy),
	newOption("acl.anonymous_policies", "acl-anonymous-policy", "`policy` of acl.policies for requests without a token; repeat the flag for more", func(c *Config) *[]string { return &c.ACL.AnonymousPolicies }, nil),
	newBlockOption("acl.policies", "named rules tokens refer to", func(c *Config) *[]ACLPolicy { return &c.ACL.Policies }, checkACLPolicies),
	newBlockOption("acl.tokens", "tokens of the local HTTP API and their rules", func(c *Config) *[]ACLToken { return &c.ACL.Tokens }, checkACLTokens),
	newOption("max_broadcast_queue", "max-broadcast-queue", "most gossip `messages` waiting to be sent; the oldest are dropped past it", func(c *Config) *int { return &c.MaxBroadcastQueue }, checkPositiveInt),
	newOption("max_clock_drift", "max-clock-drift", "how far ahead of this node's clock a replicated write's stamp may be (`duration`); later ones are rejected", func(c *Config) *Duration { return &c.MaxClockDrift }, checkPositive),
	newBlockOption("services", "service definitions registered at start and on reload", func(c *Config) *[]ServiceDef { return &c.Services }, checkServices),
	newBlockOption("watches", "exec watches: handlers run with a view's JSON at start and when it changes", func(c *Config) *[]WatchDef { return &c.Watches }, nil),
	newOption("enable_local_script_checks", "enable-local-script-checks", "run script checks (args) of the services in the configuration files; the HTTP API refuses them always", func(c *Config) *bool { return &c.EnableLocalScriptChecks }, nil),
	newBlockOption("render", "files written from templates over the local store, checked, applied atomically and reloaded", func(c *Config) *[]RenderDef { return &c.Render }, checkRenders),
	newBlockOption("communication", "policies of the calls between services through the proxy: timeout, retry, circuit breaker, balancer, locality, max_concurrent per from/to pair", func(c *Config) *[]CommunicationDef { return &c.Communication }, checkCommunication),
	newOption("render_before_sync", "render-before-sync", "render files before this node has ever synced with a peer (from a store that may be empty)", func(c *Config) *bool { return &c.RenderBeforeSync }, nil),
	newOption("enable_debug", "enable-debug", "serve Go profiles under /debug/pprof/ on the local HTTP API, to loopback clients only (with ACLs: agent write)", func(c *Config) *bool { return &c.EnableDebug }, nil),
	newOption("catalog_sync_interval", "catalog-sync-interval", "how often the catalog's anti-entropy rewrites this node's missing or changed records (`duration`)", func(c *Config) *Duration { return &c.CatalogSyncInterval }, checkSyncInterval),
	newOption("history_versions", "history-versions", "`versions` of each KV key kept in the node's history; 0: no history", func(c *Config) *int { return &c.HistoryVersions }, checkHistoryVersions),
	newOption("history_max_bytes", "history-max-bytes", "`size` of the node's history, such as 16MiB; the oldest versions go first past it", func(c *Config) *string { return &c.HistoryMaxBytes }, checkHistoryMaxBytes),
	newOption("tracing.sample_ratio", "tracing-sample-ratio", "share of new traces sampled, from 0 to 1 (`ratio`); a caller's sampled flag is honoured", func(c *Config) *float64 { return &c.Tracing.SampleRatio }, checkSampleRatio),
	newOption("tracing.otlp_endpoint", "tracing-otlp-endpoint", "OTLP/HTTP traces `URL` the proxy's spans are exported to, such as http://127.0.0.1:4318/v1/traces; empty: none", func(c *Config) *string { return &c.Tracing.OTLPEndpoint }, checkOTLPEndpoint),
	newOption("memory_limit", "memory-limit", "Go soft memory `limit` such as 192MiB, or off", func(c *Config) *string { return &c.MemoryLimit }, checkMemoryLimit),
}

// optionsByKey indexes options by configuration key.
var optionsByKey = indexOptions(options)

// indexOptions maps each row's key to the row.
func indexOptions(table []option) map[string]*option {
	m := make(map[string]*option, len(table))
	for i := range table {
		m[table[i].key] = &table[i]
	}
	return m
}

// envPrefix starts every environment variable name.
const envPrefix = "EDGEPLANE_"

// option is one row of the table: names in each source, plus operations
// bound to one Config field by newOption. Rows are values of one type
// whatever the field's type, so the loader can walk the table.
type option struct {
	key   string // YAML key, also used in errors
	flag  string // flag name without the dash; "" for a file-only option
	env   string // environment variable; "" for a file-only option
	usage string // flag help, without the key and env suffix

	// field returns a pointer to the option's field in c. It is nil only
	// for options that tests register, which have no field of their own.
	field func(c *Config) any
	// value returns the option's current value in c, for Changed.
	value func(c *Config) any

	// fromYAML sets the field from a file's value node. Nil for a block
	// list, which readBlocks reads instead.
	fromYAML func(c *Config, n *yaml.Node) error
	// readBlocks adds a file's list of blocks to the field, returning
	// every problem, each an *Error at its own position (blocks.go).
	readBlocks func(c *Config, d *blockDecoder, n *yaml.Node) []error
	// fromEnv sets the field from an environment variable's text. Nil for
	// a file-only option.
	fromEnv func(c *Config, s string) error
	// newFlag returns a flag.Value that collects the flag's value until
	// Load applies it; def supplies the default shown in -help. Nil for a
	// file-only option.
	newFlag func(def *Config) stagedFlag
	// check applies the option's validation rule. Each problem names the
	// key, or for a block list the path of the offending field.
	check func(c *Config) []keyedError
}

// keyedError is a validation problem at a key, or at a path inside a block
// list such as "services[0].port".
type keyedError struct {
	key string
	err error
}

// help is the flag's usage text, naming the key and environment variable.
// Only options with a flag have one.
func (o *option) help() string {
	return fmt.Sprintf("%s (key %s, env %s)", o.usage, o.key, o.env)
}

// newOption binds a table row to a Config field of type T. The codec for T
// (codec.go) supplies parsing for every source; check, when not nil, is the
// validation rule.
func newOption[T any](key, flagName, usage string, field func(*Config) *T, check func(T) error) option {
	cd := codecFor[T]()
	return option{
		key:   key,
		flag:  flagName,
		env:   envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_")),
		usage: usage,
		field: func(c *Config) any { return field(c) },
		value: func(c *Config) any { return *field(c) },
		fromYAML: func(c *Config, n *yaml.Node) error {
			v, err := cd.fromYAML(n)
			if err != nil {
				return err
			}
			*field(c) = v
			return nil
		},
		fromEnv: func(c *Config, s string) error {
			v, err := cd.parse(s)
			if err != nil {
				return err
			}
			*field(c) = v
			return nil
		},
		newFlag: func(def *Config) stagedFlag {
			return &flagValue[T]{codec: cd, field: field, val: cd.clone(*field(def))}
		},
		check: func(c *Config) []keyedError {
			if check == nil {
				return nil
			}
			if err := check(*field(c)); err != nil {
				return []keyedError{{key, err}}
			}
			return nil
		},
	}
}

// stagedFlag is a flag.Value that holds its parsed value until Load copies
// it into the Config, after files and environment.
type stagedFlag interface {
	flag.Value
	apply(c *Config)
}

// flagValue is the stagedFlag for an option of type T.
type flagValue[T any] struct {
	codec codec[T]
	field func(*Config) *T
	val   T
	set   bool // Set was called: a repeatable flag starts a fresh list
}

// String formats the current value. The flag package also calls it on a
// zero flagValue to decide whether a default is worth printing.
func (f *flagValue[T]) String() string {
	if f == nil || f.codec.format == nil {
		var zero T
		return codecFor[T]().format(zero)
	}
	return f.codec.format(f.val)
}

// Set parses one occurrence of the flag.
func (f *flagValue[T]) Set(s string) error {
	var (
		v   T
		err error
	)
	if f.codec.add != nil {
		cur := f.val
		if !f.set {
			var zero T
			cur = zero
		}
		v, err = f.codec.add(cur, s)
	} else {
		v, err = f.codec.parse(s)
	}
	if err != nil {
		return err
	}
	f.val, f.set = v, true
	return nil
}

// IsBoolFlag lets boolean options be given as a bare -flag.
func (f *flagValue[T]) IsBoolFlag() bool { return f.codec.isBool }

func (f *flagValue[T]) apply(c *Config) { *f.field(c) = f.codec.clone(f.val) }

// stringsFlag is a repeatable flag collecting every value in order.
type stringsFlag []string

func (s *stringsFlag) String() string {
	if s == nil {
		return ""
	}
	return strings.Join(*s, ",")
}

func (s *stringsFlag) Set(v string) error {
	*s = append(*s, v)
	return nil
}
