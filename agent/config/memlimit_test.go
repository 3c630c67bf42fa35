package config

import (
	"errors"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	tests := []struct {
		in   string
		want int64 // 0: off
		ok   bool
	}{
		{"192MiB", 192 << 20, true},
		{" 1GiB ", 1 << 30, true},
		{"512 MiB", 512 << 20, true},
		{"300MB", 300e6, true},
		{"20000KiB", 20000 << 10, true},
		{"268435456", 256 << 20, true},
		{"268435456B", 256 << 20, true},
		{"off", 0, true},
		{"OFF", 0, true},
		{"0", 0, false},
		{"15MiB", 0, false},
		{"-1GiB", 0, false},
		{"1.5GiB", 0, false},
		{"lots", 0, false},
		{"", 0, false},
		{"99999999999GiB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseMemoryLimit(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d, ok %t", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("parseMemoryLimit(%q) error %v is not ErrInvalid", tt.in, err)
		}
	}
	if n, on := Default().MemoryLimitBytes(); !on || n != 192<<20 {
		t.Errorf("default memory limit = %d, %t; want 192MiB", n, on)
	}
	if _, on := (Config{MemoryLimit: "off"}).MemoryLimitBytes(); on {
		t.Error(`"off" reads as a limit`)
	}
}
