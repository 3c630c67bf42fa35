package config

import (
	"strconv"
	"strings"
)

// MemoryLimitOff is the memory_limit value that leaves the Go runtime's
// own setting alone: no limit, or the GOMEMLIMIT environment variable.
const MemoryLimitOff = "off"

// DefaultMemoryLimit is memory_limit's default, sized for a device with
// 512 MB of RAM: the agent's steady Go heap is a few tens of MiB, the store
// file is mapped from the page cache rather than held on the heap, and the
// rest belongs to the device's own workloads.
const DefaultMemoryLimit = "192MiB"

// minMemoryLimit is the smallest accepted limit: below it the garbage
// collector would run nearly without pause.
const minMemoryLimit = 16 << 20

// memoryUnits are the accepted suffixes, longest first so that "MiB" is not
// read as "B".
var memoryUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
	{"B", 1},
}

// parseMemoryLimit reads a size such as 192MiB, 512MB or 268435456 (bytes),
// or "off". It returns the limit in bytes, or 0 for off.
func parseMemoryLimit(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, MemoryLimitOff) {
		return 0, nil
	}
	n, err := parseSize(s)
	if err != nil {
		return 0, invalidf("%v, nor %q", err, MemoryLimitOff)
	}
	if n < minMemoryLimit {
		return 0, invalidf("%q is below the minimum of 16MiB; use %q for no limit", clip(s), MemoryLimitOff)
	}
	return n, nil
}

// parseSize reads a size such as 192MiB, 512MB or 268435456 (bytes).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	num, factor := s, int64(1)
	for _, u := range memoryUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, factor = strings.TrimSpace(n), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, invalidf("%q is not a size such as 192MiB, 512MB or a number of bytes", clip(s))
	}
	if n > (1<<62)/factor {
		return 0, invalidf("%q is too large", clip(s))
	}
	return n * factor, nil
}

func checkMemoryLimit(s string) error {
	_, err := parseMemoryLimit(s)
	return err
}

// MemoryLimitBytes returns MemoryLimit in bytes, and false when it is "off"
// (or invalid, which Validate rejects).
func (c Config) MemoryLimitBytes() (int64, bool) {
	n, err := parseMemoryLimit(c.MemoryLimit)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}
