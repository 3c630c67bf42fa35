package config

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// valid is a Config that passes Validate whatever the host name.
func valid() Config {
	c := Default()
	c.NodeName = "node-1"
	return c
}

func TestValidate(t *testing.T) {
	key16 := "AAECAwQFBgcICQoLDA0ODw=="
	key24 := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"
	key32 := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	tests := []struct {
		name   string
		modify func(c *Config)
		badKey string // "" when valid
	}{
		{"defaults", func(c *Config) {}, ""},
		{"dev defaults", func(c *Config) { *c = DevDefault(); c.NodeName = "n" }, ""},

		{"node name empty", func(c *Config) { c.NodeName = "" }, "node_name"},
		{"node name 128", func(c *Config) { c.NodeName = strings.Repeat("a", 128) }, ""},
		{"node name 129", func(c *Config) { c.NodeName = strings.Repeat("a", 129) }, "node_name"},
		{"node name charset", func(c *Config) { c.NodeName = "Edge_01.store-7" }, ""},
		{"node name space", func(c *Config) { c.NodeName = "edge 1" }, "node_name"},
		{"node name non-ASCII", func(c *Config) { c.NodeName = "nœud" }, "node_name"},

		{"datacenter lower", func(c *Config) { c.Datacenter = "eu-west_2" }, ""},
		{"datacenter upper", func(c *Config) { c.Datacenter = "DC1" }, "datacenter"},
		{"datacenter dot", func(c *Config) { c.Datacenter = "dc.1" }, "datacenter"},
		{"datacenter empty", func(c *Config) { c.Datacenter = "" }, "datacenter"},

		{"site empty", func(c *Config) { c.Site = "" }, ""},
		{"site name", func(c *Config) { c.Site = "Store.42" }, ""},
		{"site slash", func(c *Config) { c.Site = "a/b" }, "site"},

		{"environment empty", func(c *Config) { c.Environment = "" }, ""},
		{"environment name", func(c *Config) { c.Environment = "prod" }, ""},
		{"environment slash", func(c *Config) { c.Environment = "prod/eu" }, "environment"},
		{"environment placeholder", func(c *Config) { c.Environment = "{{node}}" }, "environment"},

		{"layers custom", func(c *Config) { c.Layers = []string{"host/{{node}}", "{{site}}-{{env}}", "all"} }, ""},
		{"layers none", func(c *Config) { c.Layers = nil }, "layers"},
		{"layers empty entry", func(c *Config) { c.Layers = []string{"node/{{node}}", ""} }, "layers"},
		{"layers leading slash", func(c *Config) { c.Layers = []string{"/global"} }, "layers"},
		{"layers unknown placeholder", func(c *Config) { c.Layers = []string{"dc/{{dc}}"} }, "layers"},
		{"layers 16", func(c *Config) { c.Layers = numbered(16) }, ""},
		{"layers 17", func(c *Config) { c.Layers = numbered(17) }, "layers"},

		{"data dir empty", func(c *Config) { c.DataDir = "" }, "data_dir"},
		{"data dir empty in dev", func(c *Config) { c.DataDir = ""; c.Dev = true }, ""},

		{"bind IPv6", func(c *Config) { c.BindAddr = "::" }, ""},
		{"bind hostname", func(c *Config) { c.BindAddr = "localhost" }, "bind_addr"},
		{"bind empty", func(c *Config) { c.BindAddr = "" }, "bind_addr"},
		{"bind with port", func(c *Config) { c.BindAddr = "10.0.0.1:7946" }, "bind_addr"},

		{"advertise IP", func(c *Config) { c.AdvertiseAddr = "192.0.2.1" }, ""},
		{"advertise unspecified", func(c *Config) { c.AdvertiseAddr = "0.0.0.0" }, "advertise_addr"},
		{"advertise bad", func(c *Config) { c.AdvertiseAddr = "1.2.3" }, "advertise_addr"},

		{"gossip port -1", func(c *Config) { c.GossipPort = -1 }, "gossip_port"},
		{"gossip port 65535", func(c *Config) { c.GossipPort = 65535 }, ""},
		{"gossip port 65536", func(c *Config) { c.GossipPort = 65536 }, "gossip_port"},
		{"rpc port negative", func(c *Config) { c.RPCPort = -1 }, "rpc_port"},

		{"http localhost port 0", func(c *Config) { c.HTTPAddr = "localhost:0" }, ""},
		{"http IPv6", func(c *Config) { c.HTTPAddr = "[::1]:8500" }, ""},
		{"http hostname", func(c *Config) { c.HTTPAddr = "example.com:80" }, "http_addr"},
		{"http no port", func(c *Config) { c.HTTPAddr = "127.0.0.1" }, "http_addr"},
		{"http no host", func(c *Config) { c.HTTPAddr = ":8500" }, "http_addr"},
		{"http port range", func(c *Config) { c.HTTPAddr = "127.0.0.1:65536" }, "http_addr"},
		{"http port name", func(c *Config) { c.HTTPAddr = "127.0.0.1:http" }, "http_addr"},

		{"join forms", func(c *Config) {
			c.RetryJoin = []string{"10.0.0.1", "10.0.0.2:7946", "seed-1.example", "seed_2:1", "::1", "[fe80::1]", "[::1]:7946"}
		}, ""},
		{"join empty entry", func(c *Config) { c.RetryJoin = []string{"a", ""} }, "retry_join"},
		{"join empty port", func(c *Config) { c.RetryJoin = []string{"host:"} }, "retry_join"},
		{"join port 0", func(c *Config) { c.RetryJoin = []string{"host:0"} }, "retry_join"},
		{"join port range", func(c *Config) { c.RetryJoin = []string{"host:70000"} }, "retry_join"},
		{"join space", func(c *Config) { c.RetryJoin = []string{"a b"} }, "retry_join"},
		{"join empty label", func(c *Config) { c.RetryJoin = []string{"a..b"} }, "retry_join"},
		{"join colons", func(c *Config) { c.RetryJoin = []string{"a:b:c"} }, "retry_join"},
		{"join no host", func(c *Config) { c.RetryJoin = []string{":7946"} }, "retry_join"},

		{"encrypt 16", func(c *Config) { c.Encrypt = key16 }, ""},
		{"encrypt 24", func(c *Config) { c.Encrypt = key24 }, ""},
		{"encrypt 32", func(c *Config) { c.Encrypt = key32 }, ""},
		{"encrypt 8", func(c *Config) { c.Encrypt = "AAECAwQFBgc=" }, "encrypt"},
		{"encrypt not base64", func(c *Config) { c.Encrypt = "not a key!" }, "encrypt"},
		{"encrypt URL alphabet", func(c *Config) { c.Encrypt = "-_-_-_-_-_-_-_-_-_-_-w==" }, "encrypt"},

		{"log level upper", func(c *Config) { c.LogLevel = "WARN" }, ""},
		{"log level trace", func(c *Config) { c.LogLevel = "trace" }, "log_level"},
		{"log level empty", func(c *Config) { c.LogLevel = "" }, "log_level"},

		{"tombstone 1m", func(c *Config) { c.TombstoneTTL = Duration{time.Minute} }, ""},
		{"tombstone 59s", func(c *Config) { c.TombstoneTTL = Duration{59 * time.Second} }, "tombstone_ttl"},
		{"tombstone negative", func(c *Config) { c.TombstoneTTL = Duration{-time.Hour} }, "tombstone_ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.modify(&c)
			expectValidate(t, c, tt.badKey)
		})
	}
}

// expectValidate validates c and fails t unless it passes (badKey "") or
// fails with ErrInvalid for badKey, without a source. It returns the
// error for badKey, nil when c is valid.
func expectValidate(t *testing.T, c Config, badKey string) *Error {
	t.Helper()
	err := c.Validate()
	if badKey == "" {
		if err != nil {
			t.Fatalf("Validate() = %v, want nil", err)
		}
		return nil
	}
	e := asError(err, badKey)
	if e == nil {
		t.Fatalf("Validate() = %v, want an error for %q", err, badKey)
	}
	if !errors.Is(err, ErrInvalid) || e.Source != "" {
		t.Errorf("Validate() = %v, want ErrInvalid without a source", err)
	}
	return e
}

// TestEncryptFile reads the gossip key from a file: white space around it
// is trimmed, a bad or unreadable file is refused without showing its
// content, and encrypt and encrypt_file together are refused.
func TestEncryptFile(t *testing.T) {
	const key = "AAECAwQFBgcICQoLDA0ODw=="
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := file("good.key", "  "+key+"\n")
	tests := []struct {
		name    string
		modify  func(c *Config)
		wantErr string // "" when valid
	}{
		{"key file", func(c *Config) { c.EncryptFile = good }, ""},
		{"missing file", func(c *Config) { c.EncryptFile = filepath.Join(dir, "nope") }, "no such file"},
		{"empty file", func(c *Config) { c.EncryptFile = file("empty.key", "\n") }, "is empty"},
		{"not a key", func(c *Config) { c.EncryptFile = file("bad.key", "secret-words") }, "not valid base64"},
		{"large file", func(c *Config) { c.EncryptFile = file("big.key", strings.Repeat("A", 2000)) }, "not a key file"},
		{"both", func(c *Config) { c.Encrypt, c.EncryptFile = key, good }, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.modify(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				if got, err := c.GossipKey(); got != key || err != nil {
					t.Fatalf("GossipKey() = %q, %v", got, err)
				}
				return
			}
			if e := asError(err, "encrypt_file"); e == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an encrypt_file error containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "secret-words") {
				t.Fatalf("the error shows the file's content: %v", err)
			}
		})
	}
}

// TestValidationSources checks that an invalid value is blamed on the layer
// it came from.
func TestValidationSources(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "edgeplane.yaml", "log_level: info\ngossip_port: 70000\n")
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		key    string
		source string // suffix of Error.Source
		detail string
	}{
		{"port from file", []string{"-config-file", file}, nil, "gossip_port", "edgeplane.yaml:2:14", "port 70000 out of range 0-65535"},
		{"port from env", nil, map[string]string{"EDGEPLANE_GOSSIP_PORT": "-1"}, "gossip_port", "env EDGEPLANE_GOSSIP_PORT", "port -1 out of range"},
		{"port from flag", []string{"-rpc-port", "99999"}, nil, "rpc_port", "flag -rpc-port", "port 99999 out of range"},
		{"IP from flag", []string{"-bind", "10.0.0"}, nil, "bind_addr", "flag -bind", "not an IP address"},
		{"IP from env", nil, map[string]string{"EDGEPLANE_ADVERTISE_ADDR": "edge-1"}, "advertise_addr", "env EDGEPLANE_ADVERTISE_ADDR", "not an IP address"},
		{"key from env", nil, map[string]string{"EDGEPLANE_ENCRYPT": "c2hvcnQ="}, "encrypt", "env EDGEPLANE_ENCRYPT", "5 bytes"},
		{"key from flag", []string{"-encrypt", "%%%"}, nil, "encrypt", "flag -encrypt", "base64"},
		{"join from flag", []string{"-join", "ok", "-join", "bad:port"}, nil, "retry_join", "flag -join", `entry 2 ("bad:port")`},
		{"ttl from env", nil, map[string]string{"EDGEPLANE_TOMBSTONE_TTL": "10s"}, "tombstone_ttl", "env EDGEPLANE_TOMBSTONE_TTL", "shorter than the minimum"},
		{"default blamed", nil, map[string]string{"EDGEPLANE_DATA_DIR": ""}, "data_dir", "env EDGEPLANE_DATA_DIR", "must not be empty"},
		{"flag beats bad file", []string{"-config-file", file, "-gossip-port", "1"}, map[string]string{"EDGEPLANE_LOG_LEVEL": "loud"}, "log_level", "env EDGEPLANE_LOG_LEVEL", `"loud"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.args, tt.env)
			e := asError(err, tt.key)
			if e == nil {
				t.Fatalf("err = %v, want an error for %q", err, tt.key)
			}
			if !strings.HasSuffix(e.Source, tt.source) || !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want source %q and ErrInvalid", err, tt.source)
			}
			if msg := e.Error(); !strings.Contains(msg, tt.detail) || !strings.HasPrefix(msg, e.Source+`: key "`+tt.key+`": `) {
				t.Errorf("message %q lacks %q or the source/key prefix", msg, tt.detail)
			}
		})
	}
}

func TestEncryptErrorsHideKey(t *testing.T) {
	for _, key := range []string{"c2VjcmV0LXNlY3JldA==", "secret-secret!"} {
		c := valid()
		c.Encrypt = key
		if err := c.Validate(); err == nil || strings.Contains(err.Error(), key) {
			t.Errorf("Validate() = %v; want an error that does not repeat the key", err)
		}
	}
}

func TestSlogLevel(t *testing.T) {
	tests := []struct {
		in   string
		want slog.Level
	}{
		{"debug", slog.LevelDebug}, {"INFO", slog.LevelInfo}, {"Warn", slog.LevelWarn},
		{"error", slog.LevelError}, {"bogus", slog.LevelInfo}, {"", slog.LevelInfo},
	}
	for _, tt := range tests {
		if got := (Config{LogLevel: tt.in}).SlogLevel(); got != tt.want {
			t.Errorf("SlogLevel(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"72h", 72 * time.Hour, false}, {"30s", 30 * time.Second, false}, {"1h30m", 90 * time.Minute, false},
		{"0", 0, false}, {"3 days", 0, true}, {"3600", 0, true}, {"", 0, true},
	}
	for _, tt := range tests {
		var d Duration
		err := d.UnmarshalText([]byte(tt.in))
		if (err != nil) != tt.wantErr || d.Duration != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, %v", tt.in, d, err)
		}
		if err != nil && !errors.Is(err, ErrType) {
			t.Errorf("UnmarshalText(%q) error %v is not ErrType", tt.in, err)
		}
		if err == nil {
			text, _ := d.MarshalText()
			var back Duration
			if back.UnmarshalText(text) != nil || back != d {
				t.Errorf("round trip of %v through %q gave %v", d, text, back)
			}
		}
	}
}

// numbered returns n distinct layers.
func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "l" + strings.Repeat("x", i)
	}
	return out
}
