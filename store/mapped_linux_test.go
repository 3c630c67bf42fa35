package store

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFile returns this process's resident file-backed memory, in bytes.
func rssFile(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "RssFile:" {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n << 10
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestPageReadsLeaveValuesUnmapped reads 48 MB of values page by page and
// checks that their pages of the data file's map do not stay resident.
func TestPageReadsLeaveValuesUnmapped(t *testing.T) {
	s := openStore(t, "", Options{NoSync: true})
	const n, size = 96, 500 << 10
	for i := range n {
		rec := Record{Key: fmt.Sprintf("big/%04d", i), Value: bytes.Repeat([]byte{byte(i)}, size), Version: Stamp(i + 1), Origin: "o"}
		if _, err := s.Apply([]Record{rec}); err != nil {
			t.Fatal(err)
		}
	}
	before := rssFile(t)
	read, from := 0, ""
	for range 2 * n {
		p, err := s.ListPage("big/", from, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Entries {
			if len(e.Value) != size || e.Value[size-1] != e.Value[0] {
				t.Fatalf("%s: %d bytes", e.Key, len(e.Value))
			}
		}
		read += len(p.Entries)
		if from = p.Next; from == "" {
			break
		}
	}
	if read != n {
		t.Fatalf("read %d entries, want %d", read, n)
	}
	if grew := rssFile(t) - before; grew > 16<<20 {
		t.Fatalf("resident file-backed memory grew by %d MiB reading %d MiB of values", grew>>20, n*size>>20)
	}
}
