package main

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	consul "github.com/hashicorp/consul/api"
)

// TestSnapshotSaveRestore saves a live node's store and restores it into a
// fresh node, where the Consul API client sees the keys; restoring into
// the original node after deletes changes nothing, because restore merges
// by last-writer-wins and the deletes are newer.
func TestSnapshotSaveRestore(t *testing.T) {
	src := startAgent(t, "-dev", "-node", "src")
	for _, kv := range [][2]string{{"app/a", "1"}, {"app/b", "two"}, {"other", "x"}} {
		if _, errOut, code := src.cli(t, "kv", "put", "-flags", "9", kv[0], kv[1]); code != 0 {
			t.Fatal(errOut)
		}
	}
	file := filepath.Join(t.TempDir(), "backup.snap")
	if out, errOut, code := src.cli(t, "snapshot", "save", file); code != 0 || !strings.Contains(out, "Saved") {
		t.Fatalf("snapshot save = %d %q %s", code, out, errOut)
	}

	dst := startAgent(t, "-dev", "-node", "dst")
	// The three keys, and the records of src's own service and checks.
	if out, errOut, code := dst.cli(t, "snapshot", "restore", file); code != 0 || !restoredAtLeast(out, 4) {
		t.Fatalf("snapshot restore = %d %q %s", code, out, errOut)
	}
	c, err := consul.NewClient(&consul.Config{Address: dst.httpAddr})
	if err != nil {
		t.Fatal(err)
	}
	pairs, _, err := c.KV().List("", nil)
	if err != nil || len(pairs) != 3 {
		t.Fatalf("restored keys = %v, %v", pairs, err)
	}
	for _, p := range pairs {
		if p.Flags != 9 {
			t.Fatalf("restored %s without its flags: %+v", p.Key, p)
		}
	}
	if p, _, _ := c.KV().Get("app/b", nil); p == nil || string(p.Value) != "two" {
		t.Fatalf("app/b = %+v", p)
	}

	src.cli(t, "kv", "delete", "-recurse", "app/")
	if out, _, code := src.cli(t, "snapshot", "restore", file); code != 0 || !strings.Contains(out, "0 records changed") {
		t.Fatalf("restore over newer deletes = %d %q", code, out)
	}
	if keys, _, _ := src.cli(t, "kv", "list", "app/"); keys != "" {
		t.Fatalf("an older backup brought deleted keys back: %q", keys)
	}

	if _, errOut, code := dst.cli(t, "snapshot", "restore", filepath.Join(t.TempDir(), "missing")); code == 0 {
		t.Fatalf("restore of a missing file exited 0: %s", errOut)
	}
}

// restoredAtLeast reports whether a restore's output says at least n
// records changed the store.
func restoredAtLeast(out string, n int) bool {
	m := regexp.MustCompile(`: (\d+) records changed the store`).FindStringSubmatch(out)
	if m == nil {
		return false
	}
	got, err := strconv.Atoi(m[1])
	return err == nil && got >= n
}
