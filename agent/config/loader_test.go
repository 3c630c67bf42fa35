package config

import (
	"errors"
	"flag"
	"io"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "edgeplane.yaml", "gossip_port: 1001\nretry_join: [file-1, file-2]\n")
	fileArgs := []string{"-config-file", file}

	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantPort int
		wantJoin []string
	}{
		{"defaults", nil, nil, 7946, nil},
		{"file", fileArgs, nil, 1001, []string{"file-1", "file-2"}},
		{
			"env over file",
			fileArgs,
			map[string]string{"EDGEPLANE_GOSSIP_PORT": "1002", "EDGEPLANE_RETRY_JOIN": "env-1, env-2"},
			1002, []string{"env-1", "env-2"},
		},
		{
			"flag over env and file",
			append(slices.Clone(fileArgs), "-gossip-port", "1003", "-join", "flag-1", "-join", "flag-2"),
			map[string]string{"EDGEPLANE_GOSSIP_PORT": "1002", "EDGEPLANE_RETRY_JOIN": "env-1"},
			1003, []string{"flag-1", "flag-2"},
		},
		{
			"flag over file, env unset",
			append(slices.Clone(fileArgs), "-join", "flag-1"),
			nil,
			1001, []string{"flag-1"},
		},
		{
			"empty env empties the file's list",
			fileArgs,
			map[string]string{"EDGEPLANE_RETRY_JOIN": ""},
			1001, nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.args, tt.env)
			if c.GossipPort != tt.wantPort {
				t.Errorf("GossipPort = %d, want %d", c.GossipPort, tt.wantPort)
			}
			if !slices.Equal(c.RetryJoin, tt.wantJoin) {
				t.Errorf("RetryJoin = %q, want %q", c.RetryJoin, tt.wantJoin)
			}
		})
	}
}

func TestEveryOptionFromEverySource(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "all.yaml", `
node_name: file-node
datacenter: edge-1
site: store-42
environment: prod
layers: ["host/{{node}}", "site/{{site}}/{{env}}", "global"]
data_dir: /srv/edgeplane
bind_addr: 10.1.0.5
advertise_addr: 192.0.2.10
gossip_port: 8301
rpc_port: 8302
http_addr: "localhost:0"
http_allowed_hosts: [edge.example, 192.0.2.7]
http_max_conns_per_client: 50
http_max_conns: 900
http_max_blocking_queries: 300
metrics_peer_limit: 5
retry_join: ["10.1.0.6", "seed.example:8301"]
encrypt: AAECAwQFBgcICQoLDA0ODw==
log_level: DEBUG
log_json: true
tombstone_ttl: 24h
memory_limit: 300MiB
tracing: {sample_ratio: 0.5, otlp_endpoint: "http://127.0.0.1:4318/v1/traces"}
history_versions: 25
history_max_bytes: 4MiB
retry_max: 7
retry_interval: 2s
profile: edge
tags: {rack: r1, tier: "2"}
reconnect_interval: 10s
reconnect_timeout: 1h
dead_node_reclaim: 5s
leave_on_terminate: false
max_clock_drift: 2m
max_broadcast_queue: 100
acl: {enabled: true, default_policy: allow}
enable_local_script_checks: true
catalog_sync_interval: 30s
`)
	want := Config{
		NodeName: "file-node", Datacenter: "edge-1", Site: "store-42",
		Environment: "prod", Layers: []string{"host/{{node}}", "site/{{site}}/{{env}}", "global"},
		DataDir: "/srv/edgeplane", BindAddr: "10.1.0.5", AdvertiseAddr: "192.0.2.10",
		GossipPort: 8301, RPCPort: 8302, HTTPAddr: "localhost:0",
		HTTPAllowedHosts: []string{"edge.example", "192.0.2.7"}, HTTPMaxConnsPerClient: 50, HTTPMaxConns: 900, HTTPMaxBlockingQueries: 300,
		MetricsPeerLimit: 5,
		RetryJoin:        []string{"10.1.0.6", "seed.example:8301"},
		Encrypt:          "AAECAwQFBgcICQoLDA0ODw==", LogLevel: "DEBUG", LogJSON: true,
		TombstoneTTL: Duration{24 * time.Hour}, MemoryLimit: "300MiB",
		Tracing:         TracingConfig{SampleRatio: 0.5, OTLPEndpoint: "http://127.0.0.1:4318/v1/traces"},
		HistoryVersions: 25, HistoryMaxBytes: "4MiB",
		RetryMax: 7, RetryInterval: Duration{2 * time.Second}, Profile: "edge",
		Tags:              map[string]string{"rack": "r1", "tier": "2"},
		ReconnectInterval: Duration{10 * time.Second}, ReconnectTimeout: Duration{time.Hour},
		DeadNodeReclaim: Duration{5 * time.Second}, LeaveOnTerminate: false,
		MaxClockDrift: Duration{2 * time.Minute}, MaxBroadcastQueue: 100,
		ACL:                     ACLConfig{Enabled: true, DefaultPolicy: "allow"},
		EnableLocalScriptChecks: true, CatalogSyncInterval: Duration{30 * time.Second},
	}
	env := map[string]string{
		"EDGEPLANE_NODE_NAME": "file-node", "EDGEPLANE_DATACENTER": "edge-1", "EDGEPLANE_SITE": "store-42",
		"EDGEPLANE_ENVIRONMENT": "prod", "EDGEPLANE_LAYERS": "host/{{node}}, site/{{site}}/{{env}}, global",
		"EDGEPLANE_DATA_DIR": "/srv/edgeplane", "EDGEPLANE_BIND_ADDR": "10.1.0.5",
		"EDGEPLANE_ADVERTISE_ADDR": "192.0.2.10", "EDGEPLANE_GOSSIP_PORT": "8301",
		"EDGEPLANE_RPC_PORT": "8302", "EDGEPLANE_HTTP_ADDR": "localhost:0",
		"EDGEPLANE_HTTP_ALLOWED_HOSTS": "edge.example, 192.0.2.7", "EDGEPLANE_HTTP_MAX_CONNS_PER_CLIENT": "50", "EDGEPLANE_HTTP_MAX_CONNS": "900",
		"EDGEPLANE_HTTP_MAX_BLOCKING_QUERIES": "300", "EDGEPLANE_METRICS_PEER_LIMIT": "5",
		"EDGEPLANE_RETRY_JOIN": "10.1.0.6,seed.example:8301", "EDGEPLANE_ENCRYPT": "AAECAwQFBgcICQoLDA0ODw==",
		"EDGEPLANE_LOG_LEVEL": "DEBUG", "EDGEPLANE_LOG_JSON": "true", "EDGEPLANE_TOMBSTONE_TTL": "24h",
		"EDGEPLANE_MEMORY_LIMIT":         "300MiB",
		"EDGEPLANE_TRACING_SAMPLE_RATIO": "0.5", "EDGEPLANE_TRACING_OTLP_ENDPOINT": "http://127.0.0.1:4318/v1/traces",
		"EDGEPLANE_HISTORY_VERSIONS": "25", "EDGEPLANE_HISTORY_MAX_BYTES": "4MiB",
		"EDGEPLANE_RETRY_MAX": "7", "EDGEPLANE_RETRY_INTERVAL": "2s", "EDGEPLANE_PROFILE": "edge",
		"EDGEPLANE_TAGS": "rack=r1, tier=2", "EDGEPLANE_RECONNECT_INTERVAL": "10s",
		"EDGEPLANE_RECONNECT_TIMEOUT": "1h", "EDGEPLANE_DEAD_NODE_RECLAIM": "5s",
		"EDGEPLANE_LEAVE_ON_TERMINATE": "false", "EDGEPLANE_MAX_CLOCK_DRIFT": "2m", "EDGEPLANE_MAX_BROADCAST_QUEUE": "100",
		"EDGEPLANE_ACL_ENABLED": "true", "EDGEPLANE_ACL_DEFAULT_POLICY": "allow",
		"EDGEPLANE_ENABLE_LOCAL_SCRIPT_CHECKS": "true", "EDGEPLANE_CATALOG_SYNC_INTERVAL": "30s",
	}
	flags := []string{
		"-node", "file-node", "-datacenter", "edge-1", "-site", "store-42", "-data-dir", "/srv/edgeplane",
		"-environment", "prod", "-layer", "host/{{node}}", "-layer", "site/{{site}}/{{env}}", "-layer", "global",
		"-bind", "10.1.0.5", "-advertise", "192.0.2.10", "-gossip-port", "8301", "-rpc-port", "8302",
		"-http-addr", "localhost:0", "-http-allowed-host", "edge.example", "-http-allowed-host", "192.0.2.7",
		"-http-max-conns-per-client", "50", "-http-max-conns", "900", "-http-max-blocking-queries", "300", "-metrics-peer-limit", "5", "-join", "10.1.0.6", "-join", "seed.example:8301",
		"-encrypt", "AAECAwQFBgcICQoLDA0ODw==", "-log-level", "DEBUG", "-log-json", "-tombstone-ttl", "24h",
		"-memory-limit", "300MiB",
		"-tracing-sample-ratio", "0.5", "-tracing-otlp-endpoint", "http://127.0.0.1:4318/v1/traces",
		"-history-versions", "25", "-history-max-bytes", "4MiB",
		"-retry-max", "7", "-retry-interval", "2s", "-profile", "edge", "-tag", "rack=r1", "-tag", "tier=2",
		"-reconnect-interval", "10s", "-reconnect-timeout", "1h", "-dead-node-reclaim", "5s",
		"-leave-on-terminate=false", "-max-clock-drift", "2m", "-max-broadcast-queue", "100",
		"-acl-enabled", "-acl-default-policy", "allow",
		"-enable-local-script-checks", "-catalog-sync-interval", "30s",
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"file", []string{"-config-file", file}, nil},
		{"env", nil, env},
		{"flags", flags, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.args, tt.env)
			if !equalConfig(c, want) {
				t.Errorf("got  %+v\nwant %+v", c, want)
			}
		})
	}
}

// equalConfig compares configs, treating nil and empty lists alike.
func equalConfig(a, b Config) bool {
	if !slices.Equal(a.RetryJoin, b.RetryJoin) {
		return false
	}
	a.RetryJoin, b.RetryJoin = nil, nil
	return reflect.DeepEqual(a, b)
}

func TestConfigDirOrder(t *testing.T) {
	dir := t.TempDir()
	confDir := filepath.Join(dir, "conf.d")
	writeFile(t, confDir, "10-a.yaml", "site: from-a\ngossip_port: 1010\nretry_join: [a-1]\n")
	writeFile(t, confDir, "20-b.yaml", "site: from-b\n")
	writeFile(t, confDir, "05-z.yml", "site: from-z\nrpc_port: 1005\ngossip_port: 1005\ndatacenter: from-z\n")
	writeFile(t, confDir, "notes.txt", "this: [is not: yaml\n")
	writeFile(t, confDir, "99-disabled.yaml.bak", "gossip_port: 9999\n")
	writeFile(t, confDir, "50-sub.yaml/inner.yaml", "gossip_port: 9998\n")
	main := writeFile(t, dir, "main.yaml", "site: from-main\nlog_level: debug\nretry_join: [m-1, m-2, m-3]\ndatacenter: from-main\n")
	extra := writeFile(t, dir, "extra.yaml", "log_level: warn\n")

	// The dir is named first on the command line, yet files are read first.
	c := mustLoad(t, []string{"-config-dir", confDir, "-config-file", main, "-config-file", extra}, nil)

	tests := []struct {
		field     string
		got, want any
	}{
		{"Site (20-b.yaml is last)", c.Site, "from-b"},
		{"GossipPort (10-a.yaml after 05-z.yml)", c.GossipPort, 1010},
		{"RPCPort (only 05-z.yml)", c.RPCPort, 1005},
		{"Datacenter (05-z.yml after main.yaml)", c.Datacenter, "from-z"},
		{"LogLevel (extra.yaml after main.yaml)", c.LogLevel, "warn"},
		{"RetryJoin (10-a.yaml replaces, not appends)", strings.Join(c.RetryJoin, ","), "a-1"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.field, tt.got, tt.want)
		}
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "d/10.yaml", "node_name: n1\ngossip_port: 2000\n")
	file := writeFile(t, dir, "f.yaml", "node_name: n0\nrpc_port: 2001\n")
	c, err := LoadFiles([]string{file}, []string{filepath.Join(dir, "d")})
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeName != "n1" || c.GossipPort != 2000 || c.RPCPort != 2001 || c.DataDir != "/var/lib/edgeplane" {
		t.Errorf("LoadFiles = %+v", c)
	}
}

func TestDevMode(t *testing.T) {
	dir := t.TempDir()
	withDataDir := writeFile(t, dir, "data.yaml", "data_dir: /srv/dev\n")
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantDev  bool
		wantData string
		wantBind string
	}{
		{"production", nil, nil, false, "/var/lib/edgeplane", "0.0.0.0"},
		{"dev", []string{"-dev"}, nil, true, "", "127.0.0.1"},
		{"dev, data_dir in file", []string{"-dev", "-config-file", withDataDir}, nil, true, "/srv/dev", "127.0.0.1"},
		{"dev, data_dir in env", []string{"-dev"}, map[string]string{"EDGEPLANE_DATA_DIR": "/srv/env"}, true, "/srv/env", "127.0.0.1"},
		{"dev, bind flag", []string{"-dev", "-bind", "10.0.0.1"}, nil, true, "", "10.0.0.1"},
		{"dev, bind env", []string{"-dev"}, map[string]string{"EDGEPLANE_BIND_ADDR": "::"}, true, "", "::"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.args, tt.env)
			if c.Dev != tt.wantDev || c.DataDir != tt.wantData || c.BindAddr != tt.wantBind {
				t.Errorf("Dev=%v DataDir=%q BindAddr=%q, want %v %q %q",
					c.Dev, c.DataDir, c.BindAddr, tt.wantDev, tt.wantData, tt.wantBind)
			}
		})
	}
	if got, want := DevDefault().NodeName, Default().NodeName; got != want {
		t.Errorf("DevDefault().NodeName = %q, want the host name %q", got, want)
	}
}

func TestEmptyFilesSetNothing(t *testing.T) {
	dir := t.TempDir()
	for i, content := range []string{"", "\n\n", "# only a comment\n", "---\n", "~\n", "null\n", "{}\n"} {
		path := writeFile(t, dir, "empty"+string(rune('a'+i))+".yaml", content)
		c := mustLoad(t, []string{"-config-file", path}, nil)
		want := Default()
		want.NodeName = testNodeName
		if !equalConfig(c, want) {
			t.Errorf("%q: got %+v, want defaults", content, c)
		}
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		env, value, key string
	}{
		{"EDGEPLANE_GOSSIP_PORT", "abc", "gossip_port"},
		{"EDGEPLANE_RPC_PORT", "", "rpc_port"},
		{"EDGEPLANE_LOG_JSON", "maybe", "log_json"},
		{"EDGEPLANE_TOMBSTONE_TTL", "3 days", "tombstone_ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			_, err := load(t, nil, map[string]string{tt.env: tt.value})
			e := asError(err, tt.key)
			if e == nil {
				t.Fatalf("err = %v, want an *Error for %q", err, tt.key)
			}
			if e.Source != "env "+tt.env || !errors.Is(err, ErrType) {
				t.Errorf("err = %v, want source env %s and ErrType", err, tt.env)
			}
		})
	}
}

func TestFlagParseErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-gossip-port", "abc"}, "-gossip-port"},
		{[]string{"-tombstone-ttl", "3 days"}, "-tombstone-ttl"},
		{[]string{"-log-json=maybe"}, "-log-json"},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("edgeplane", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		NewLoader(fs)
		if err := fs.Parse(tt.args); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error naming %s", tt.args, err, tt.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	_, err := load(t, []string{"-config-file", missing}, nil)
	if !errors.Is(err, ErrSource) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: err = %v", err)
	}
	_, err = load(t, []string{"-config-dir", filepath.Join(dir, "nope")}, nil)
	if !errors.Is(err, ErrSource) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing dir: err = %v", err)
	}

	l := NewLoader(flag.NewFlagSet("edgeplane", flag.ContinueOnError))
	if _, err := l.Load(lookup(nil)); !errors.Is(err, ErrNotParsed) {
		t.Errorf("Load before Parse: err = %v, want ErrNotParsed", err)
	}
}

func TestAllProblemsReported(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.yaml", "gosip_port: 1\nrpc_port: x\n")
	b := writeFile(t, dir, "b.yaml", "log_json: maybe\n")
	_, err := load(t, []string{"-config-file", a, "-config-file", b}, map[string]string{"EDGEPLANE_GOSSIP_PORT": "y"})
	for _, key := range []string{"gosip_port", "rpc_port", "log_json", "gossip_port"} {
		if asError(err, key) == nil {
			t.Errorf("no error for %q in:\n%v", key, err)
		}
	}
}

func TestTLSSection(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "tls.yaml", "tls:\n  ca_file: /etc/edgeplane/ca.pem\n  cert_file: /etc/edgeplane/n.pem\n  key_file: /etc/edgeplane/n-key.pem\n")
	c := mustLoad(t, []string{"-config-file", good}, nil)
	if c.TLS != (TLSConfig{CAFile: "/etc/edgeplane/ca.pem", CertFile: "/etc/edgeplane/n.pem", KeyFile: "/etc/edgeplane/n-key.pem"}) {
		t.Fatalf("TLS = %+v", c.TLS)
	}
	c = mustLoad(t, []string{"-config-file", good, "-tls-cert-file", "/other.pem"}, map[string]string{"EDGEPLANE_TLS_KEY_FILE": "/k.pem"})
	if c.TLS.CertFile != "/other.pem" || c.TLS.KeyFile != "/k.pem" {
		t.Fatalf("flag and env over the file: %+v", c.TLS)
	}
	tests := []struct{ name, yaml, want string }{
		{"unknown key in the section", "tls:\n  ca_file: a\n  cert: b\n", `tls.yaml:3:3: key "tls.cert"`},
		{"section not a mapping", "tls: yes\n", `key "tls": expected a mapping`},
		{"files missing", "tls:\n  ca_file: a\n", `key "tls.cert_file": must be set`},
	}
	for _, tt := range tests {
		file := writeFile(t, dir, "tls.yaml", tt.yaml)
		if _, err := LoadFiles([]string{file}, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}
