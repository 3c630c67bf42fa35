package config

import (
	"slices"
	"testing"
	"time"
)

func TestChanged(t *testing.T) {
	a := Default()
	if got := Changed(a, a); len(got) != 0 {
		t.Fatalf("Changed(a, a) = %q", got)
	}
	b := a
	b.LogLevel = "debug"
	b.RetryJoin = []string{"10.0.0.1"}
	b.TombstoneTTL = Duration{time.Hour}
	b.Dev = true // not an option
	want := []string{"retry_join", "log_level", "tombstone_ttl"}
	if got := Changed(a, b); !slices.Equal(got, want) {
		t.Fatalf("Changed = %q, want %q", got, want)
	}

	// Empty and absent lists and maps are the same.
	c, d := a, a
	c.RetryJoin, d.RetryJoin = nil, []string{}
	if got := Changed(c, d); len(got) != 0 {
		t.Fatalf("nil and empty lists differ: %q", got)
	}

	// Loading the same sources twice changes nothing.
	dir := t.TempDir()
	file := writeFile(t, dir, "a.yaml", "node_name: n1\nretry_join: [10.0.0.1]\nlog_level: debug\n")
	first, err := LoadFiles([]string{file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := LoadFiles([]string{file}, []string{dir})
	if got := Changed(first, second); len(got) != 0 {
		t.Fatalf("the same file loaded twice differs in %q", got)
	}
}
