package config

import (
	"strings"
	"testing"
)

func TestValidateHTTPGuard(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		badKey string // "" when valid
		reason string // part of the message when invalid
	}{
		{"defaults", func(c *Config) {}, "", ""},
		{"allowed hosts", func(c *Config) {
			c.HTTPAllowedHosts = []string{"edge.example", "GW-0042.local.", "192.0.2.7", "2001:db8::1", "[2001:db8::2]", "single"}
		}, "", ""},
		{"allowed host with port", func(c *Config) { c.HTTPAllowedHosts = []string{"edge.example:8500"} }, "http_allowed_hosts", "without a port"},
		{"allowed IPv6 with port", func(c *Config) { c.HTTPAllowedHosts = []string{"[2001:db8::1]:8500"} }, "http_allowed_hosts", "without a port"},
		{"allowed host empty", func(c *Config) { c.HTTPAllowedHosts = []string{"edge.example", ""} }, "http_allowed_hosts", "entry 2"},
		{"allowed host wildcard", func(c *Config) { c.HTTPAllowedHosts = []string{"*.example"} }, "http_allowed_hosts", "wildcards"},
		{"allowed host everything", func(c *Config) { c.HTTPAllowedHosts = []string{"*"} }, "http_allowed_hosts", "wildcards"},
		{"allowed host space", func(c *Config) { c.HTTPAllowedHosts = []string{"edge example"} }, "http_allowed_hosts", "not an IP address or host name"},
		{"allowed host URL", func(c *Config) { c.HTTPAllowedHosts = []string{"http://edge.example"} }, "http_allowed_hosts", ""},
		{"allowed unspecified", func(c *Config) { c.HTTPAllowedHosts = []string{"0.0.0.0"} }, "http_allowed_hosts", "no address"},

		{"conns per client 0", func(c *Config) { c.HTTPMaxConnsPerClient = 0 }, "", ""},
		{"conns per client 1", func(c *Config) { c.HTTPMaxConnsPerClient = 1 }, "", ""},
		{"conns per client negative", func(c *Config) { c.HTTPMaxConnsPerClient = -1 }, "http_max_conns_per_client", "negative"},
		{"conns 0", func(c *Config) { c.HTTPMaxConns = 0 }, "", ""},
		{"conns negative", func(c *Config) { c.HTTPMaxConns = -1 }, "http_max_conns", "negative"},
		{"blocking queries 0", func(c *Config) { c.HTTPMaxBlockingQueries = 0 }, "", ""},
		{"blocking queries negative", func(c *Config) { c.HTTPMaxBlockingQueries = -5 }, "http_max_blocking_queries", "negative"},
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

func TestHTTPGuardDefaults(t *testing.T) {
	c := Default()
	if c.HTTPMaxConnsPerClient != 200 || c.HTTPMaxConns != 2048 || c.HTTPMaxBlockingQueries != 1024 || len(c.HTTPAllowedHosts) != 0 {
		t.Errorf("defaults: http_max_conns_per_client %d, http_max_conns %d, http_max_blocking_queries %d, http_allowed_hosts %q",
			c.HTTPMaxConnsPerClient, c.HTTPMaxConns, c.HTTPMaxBlockingQueries, c.HTTPAllowedHosts)
	}
}
