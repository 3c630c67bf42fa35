package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateMetricsAddr(t *testing.T) {
	fleet := func(c *Config) { c.TLS = TLSConfig{CAFile: "ca.pem", CertFile: "n.pem", KeyFile: "n-key.pem"} }
	tests := []struct {
		name   string
		modify func(c *Config)
		badKey string // "" when valid
		reason string // part of the message when invalid
	}{
		{"none", func(c *Config) {}, "", ""},
		{"loopback", func(c *Config) { c.MetricsAddr = "127.0.0.1:9947" }, "", ""},
		{"localhost", func(c *Config) { c.MetricsAddr = "localhost:9947" }, "", ""},
		{"IPv6 loopback", func(c *Config) { c.MetricsAddr = "[::1]:9947" }, "", ""},
		{"every interface with a token", func(c *Config) {
			c.MetricsAddr, c.MetricsBearerTokenFile = "0.0.0.0:9947", "/etc/edgeplane/metrics.token"
		}, "", ""},
		{"every interface with TLS and a token", func(c *Config) {
			fleet(c)
			c.MetricsAddr, c.MetricsTLS, c.MetricsBearerTokenFile = "0.0.0.0:9947", true, "/etc/edgeplane/metrics.token"
		}, "", ""},
		{"every interface open", func(c *Config) { c.MetricsAddr = "0.0.0.0:9947" }, "metrics_addr", "metrics_bearer_token_file"},
		{"LAN address with TLS only", func(c *Config) {
			fleet(c)
			c.MetricsAddr, c.MetricsTLS = "192.0.2.7:9947", true
		}, "metrics_addr", "not a loopback address"},
		{"not host:port", func(c *Config) { c.MetricsAddr = "9947" }, "metrics_addr", "host:port"},
		{"host name", func(c *Config) { c.MetricsAddr = "gw.example:9947" }, "metrics_addr", "not an IP address"},
		{"port out of range", func(c *Config) { c.MetricsAddr = "127.0.0.1:70000" }, "metrics_addr", ""},
		{"TLS without the fleet certificate", func(c *Config) {
			c.MetricsAddr, c.MetricsTLS = "127.0.0.1:9947", true
		}, "metrics_tls", "fleet certificate"},
		{"TLS without metrics_addr", func(c *Config) { fleet(c); c.MetricsTLS = true }, "metrics_tls", "needs metrics_addr"},
		{"token without metrics_addr", func(c *Config) { c.MetricsBearerTokenFile = "/t" }, "metrics_bearer_token_file", "needs metrics_addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.modify(&c)
			if e := expectValidate(t, c, tt.badKey); e != nil && !strings.Contains(e.Error(), tt.reason) {
				t.Errorf("Validate() = %v, want it to say %q", e, tt.reason)
			}
		})
	}
}

func TestReadMetricsToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const token = "0123456789abcdef0123"
	if got, err := (Config{}).ReadMetricsToken(); got != "" || err != nil {
		t.Errorf("no file: %q, %v", got, err)
	}
	if got, err := (Config{MetricsBearerTokenFile: write("ok", "  "+token+"\n", 0o600)}).ReadMetricsToken(); got != token || err != nil {
		t.Errorf("a good file: %q, %v", got, err)
	}
	for _, c := range []struct {
		name, content string
		mode          os.FileMode
		reason        string
	}{
		{"open", token, 0o644, "open to every user"},
		{"short", "abcde", 0o600, "characters"},
		{"space", "0123456789 abcdef0123", 0o600, "space"},
		{"empty", "\n", 0o600, ""},
	} {
		got, err := (Config{MetricsBearerTokenFile: write(c.name, c.content, c.mode)}).ReadMetricsToken()
		if err == nil || !strings.Contains(err.Error(), c.reason) || !strings.Contains(err.Error(), "metrics_bearer_token_file") {
			t.Errorf("%s: %q, %v; want an error saying %q", c.name, got, err, c.reason)
		}
		if err != nil && strings.Contains(err.Error(), c.content) && strings.TrimSpace(c.content) != "" {
			t.Errorf("%s: the error shows the token: %v", c.name, err)
		}
	}
	if _, err := (Config{MetricsBearerTokenFile: filepath.Join(dir, "missing")}).ReadMetricsToken(); err == nil {
		t.Error("a missing file: no error")
	}
}
