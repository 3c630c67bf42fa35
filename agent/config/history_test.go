package config

import (
	"strings"
	"testing"
)

func TestHistoryOptions(t *testing.T) {
	tests := []struct {
		name           string
		modify         func(*Config)
		badKey, reason string
	}{
		{"defaults", func(*Config) {}, "", ""},
		{"off", func(c *Config) { c.HistoryVersions = 0 }, "", ""},
		{"many versions", func(c *Config) { c.HistoryVersions = 1000 }, "", ""},
		{"too many versions", func(c *Config) { c.HistoryVersions = 1001 }, "history_versions", "1000"},
		{"negative versions", func(c *Config) { c.HistoryVersions = -1 }, "history_versions", "from 0"},
		{"bytes", func(c *Config) { c.HistoryMaxBytes = "65536" }, "", ""},
		{"bytes with unit", func(c *Config) { c.HistoryMaxBytes = "1GiB" }, "", ""},
		{"too small", func(c *Config) { c.HistoryMaxBytes = "1KiB" }, "history_max_bytes", "64KiB"},
		{"too large", func(c *Config) { c.HistoryMaxBytes = "2GiB" }, "history_max_bytes", "1GiB"},
		{"not a size", func(c *Config) { c.HistoryMaxBytes = "lots" }, "history_max_bytes", "not a size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.modify(&c)
			if e := expectValidate(t, c, tt.badKey); e != nil && !strings.Contains(e.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", e, tt.reason)
			}
		})
	}
	if got := Default().HistoryMaxBytesValue(); got != 16<<20 {
		t.Errorf("default history_max_bytes = %d bytes, want 16MiB", got)
	}
}
