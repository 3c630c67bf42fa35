package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/store/storetest"
)

// TestKeysMustBeUTF8AtEveryEntry: a data dir written by a release that
// took any key holds a key that is not valid UTF-8; the agent quarantines
// it at start, says so in its log and in info, and serves the rest. Every
// way in refuses such a key: the HTTP API and kv put with a 400 naming the
// rule, kv import before writing anything, and snapshot restore by keeping
// the record in the quarantine and saying so.
func TestKeysMustBeUTF8AtEveryEntry(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put("app/a", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	st.Close()
	poison := store.Record{Key: "poison/\xff\xfe", Value: []byte("kept"), Version: store.MakeStamp(1_700_000_000_000, 0), Origin: "old-node"}
	if err := storetest.WriteUncheckedRecord(dir, poison); err != nil {
		t.Fatal(err)
	}

	p := startAgent(t, "-data-dir", dir)
	warn := logRecord(t, p, "the store holds records whose keys are not valid UTF-8")
	if warn["level"] != "WARN" || warn["count"] != 1.0 || warn["keys"] != `"poison/\xff\xfe"` {
		t.Fatalf("start-up warning %v: want WARN, count 1 and the key escaped", warn)
	}
	info, errOut, code := p.cli(t, "info")
	if code != 0 || !strings.Contains(info, "quarantined = 1") || !strings.Contains(info, `"poison/\xff\xfe": 4 bytes`) {
		t.Fatalf("info = %d %s %s: want the quarantined key listed", code, info, errOut)
	}

	// HTTP API and kv put.
	resp, body := httpDo(t, "PUT", p.url("/v1/kv/poison/%FF%FE"), "v")
	if resp != 400 || !strings.Contains(body, "keys must be valid UTF-8") {
		t.Fatalf("PUT = %d %q", resp, body)
	}
	if _, errOut, code := p.cli(t, "kv", "put", "poison/\xff", "v"); code == 0 || !strings.Contains(errOut, "keys must be valid UTF-8") {
		t.Fatalf("kv put = %d %s", code, errOut)
	}

	// kv import: a file whose key is not UTF-8, and a prefix that is not.
	file := filepath.Join(t.TempDir(), "import.json")
	os.WriteFile(file, []byte(`[{"key": "imported/ok", "flags": 0, "value": "MQ=="}, {"key": "imported/`+"\xff"+`", "flags": 0, "value": "MQ=="}]`), 0o600)
	if out, errOut, code := p.cli(t, "kv", "import", file); code == 0 || !strings.Contains(errOut, "not valid UTF-8 at byte 72") || strings.Contains(out, "Imported") {
		t.Fatalf("kv import = %d %q %s", code, out, errOut)
	}
	os.WriteFile(file, []byte(`[{"key": "ok", "flags": 0, "value": "MQ=="}]`), 0o600)
	if out, errOut, code := p.cli(t, "kv", "import", "-prefix", "imported/\xff/", file); code == 0 || !strings.Contains(errOut, "keys must be valid UTF-8") || strings.Contains(out, "Imported") {
		t.Fatalf("kv import -prefix = %d %q %s", code, out, errOut)
	}

	// Snapshot restore of a backup holding such a key.
	snap := filepath.Join(t.TempDir(), "backup.snap")
	f, err := os.Create(snap)
	if err != nil {
		t.Fatal(err)
	}
	sw := store.NewSnapshotWriter(f)
	for _, r := range []store.Record{
		{Key: "restored/ok", Value: []byte("1"), Version: poison.Version, Origin: "old-node"},
		{Key: "restored/\xff", Value: []byte("22"), Version: poison.Version, Origin: "old-node"},
	} {
		if err := sw.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, errOut, code := p.cli(t, "snapshot", "restore", snap)
	if code != 0 || !strings.Contains(out, "1 records changed") || !strings.Contains(out, "1 records whose keys are not valid UTF-8 were quarantined") {
		t.Fatalf("snapshot restore = %d %q %s", code, out, errOut)
	}
	info, _, _ = p.cli(t, "info")
	if !strings.Contains(info, "quarantined = 2") || !strings.Contains(info, `"restored/\xff": 2 bytes`) {
		t.Fatalf("info after restore:\n%s", info)
	}

	// Nothing mangled is served: only the valid keys are listed and
	// exported.
	if keys, _, _ := p.cli(t, "kv", "list"); keys != "app/a\nrestored/ok\n" {
		t.Fatalf("kv list = %q", keys)
	}
	export, _, _ := p.cli(t, "kv", "export")
	if strings.Contains(export, "poison") || strings.Contains(export, "\uFFFD") || strings.Contains(export, "imported") {
		t.Fatalf("kv export = %s", export)
	}
}

// logRecord returns the first JSON log line of p whose message is msg.
func logRecord(t *testing.T, p *agentProc, msg string) map[string]any {
	t.Helper()
	p.waitLog(msg)
	for _, line := range strings.Split(p.log(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec["msg"].(string), msg) {
			return rec
		}
	}
	t.Fatalf("no log line %q", msg)
	return nil
}

// httpDo makes one request and returns the status and body.
func httpDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
