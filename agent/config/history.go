package config

// History options: how much of each KV key's past a node keeps (see
// store.Options.HistoryVersions and HistoryMaxBytes).

const (
	// DefaultHistoryVersions is history_versions' default.
	DefaultHistoryVersions = 10
	// DefaultHistoryMaxBytes is history_max_bytes' default.
	DefaultHistoryMaxBytes = "16MiB"

	maxHistoryVersions = 1000
	minHistoryBytes    = 64 << 10
	maxHistoryBytes    = 1 << 30
)

func checkHistoryVersions(n int) error {
	if n < 0 || n > maxHistoryVersions {
		return invalidf("%d is not from 0 (no history) to %d", n, maxHistoryVersions)
	}
	return nil
}

// parseHistoryBytes reads a size such as 16MiB, 4MB or 65536 (bytes).
func parseHistoryBytes(s string) (int64, error) {
	n, err := parseSize(s)
	if err != nil {
		return 0, err
	}
	if n < minHistoryBytes || n > maxHistoryBytes {
		return 0, invalidf("%q is not from 64KiB to 1GiB", clip(s))
	}
	return n, nil
}

func checkHistoryMaxBytes(s string) error {
	_, err := parseHistoryBytes(s)
	return err
}

// HistoryMaxBytesValue returns HistoryMaxBytes in bytes (0 when invalid,
// which Validate rejects).
func (c Config) HistoryMaxBytesValue() int64 {
	n, _ := parseHistoryBytes(c.HistoryMaxBytes)
	return n
}
