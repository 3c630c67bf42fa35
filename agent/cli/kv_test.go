package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

func get(t *testing.T, a *apitest.Agent, key string) *api.KVPair {
	t.Helper()
	p, err := a.Client.KV().Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKVPut(t *testing.T) {
	a := apitest.Start(t)
	run(t, a.Addr, "", "kv", "put", "-flags", "7", "app/a", "one").expect(t, 0, "Success! Data written to: app/a\n", "")
	if p := get(t, a, "app/a"); p == nil || string(p.Value) != "one" || p.Flags != 7 {
		t.Fatalf("app/a = %+v", p)
	}
	run(t, a.Addr, "", "kv", "put", "app/empty").expect(t, 0, "Success!", "")
	if p := get(t, a, "app/empty"); p == nil || len(p.Value) != 0 {
		t.Fatalf("app/empty = %+v", p)
	}
	run(t, a.Addr, "from stdin", "kv", "put", "app/stdin", "-").expect(t, 0, "Success!", "")
	file := filepath.Join(t.TempDir(), "value")
	os.WriteFile(file, []byte("from a file"), 0o600)
	run(t, a.Addr, "", "kv", "put", "app/file", "@"+file).expect(t, 0, "Success!", "")
	for k, want := range map[string]string{"app/stdin": "from stdin", "app/file": "from a file"} {
		if p := get(t, a, k); p == nil || string(p.Value) != want {
			t.Fatalf("%s = %+v", k, p)
		}
	}
	run(t, a.Addr, "", "kv", "put", "app/x", "@"+file+".missing").expect(t, 1, "", "no such file")

	// Consul's refusal, word for word.
	r := run(t, a.Addr, "", "kv", "put", "/key", "v")
	if r.code != 1 || r.stderr != "Error! Failed writing data: Invalid key. Key must not begin with a '/': /key\n" {
		t.Fatalf("kv put /key = %d %q", r.code, r.stderr)
	}
	if p := get(t, a, "/key"); p != nil {
		t.Fatalf("/key was written: %+v", p)
	}

	// Check-and-set: 0 creates only, then the modify index must match.
	run(t, a.Addr, "", "kv", "put", "-cas", "app/cas", "1").expect(t, 0, "Success!", "")
	run(t, a.Addr, "", "kv", "put", "-cas", "app/cas", "2").expect(t, 1, "", `did not write "app/cas": modify index 0 does not match`)
	idx := get(t, a, "app/cas").ModifyIndex
	run(t, a.Addr, "", "kv", "put", "-cas", "-modify-index", itoa(idx), "app/cas", "2").expect(t, 0, "Success!", "")

	// The agent's refusal comes with its reason.
	run(t, a.Addr, "", "kv", "put", "bad\xff", "v").expect(t, 1, "", "keys must be valid UTF-8")
	run(t, a.Addr, strings.Repeat("x", 600<<10), "kv", "put", "big", "-").expect(t, 1, "", "413")
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestKVGet(t *testing.T) {
	a := apitest.Start(t)
	ctx := context.Background()
	for _, k := range []string{"app/a", "app/b"} {
		a.Client.KV().Put(ctx, api.KVPair{Key: k, Value: []byte("v-" + k), Flags: 3})
	}
	run(t, a.Addr, "", "kv", "get", "app/a").expect(t, 0, "v-app/a\n", "")
	// One leading slash is dropped, as Consul's kv get does.
	if r := run(t, a.Addr, "", "kv", "get", "/app/a"); r.code != 0 || r.stdout != "v-app/a\n" {
		t.Fatalf("kv get /app/a = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := run(t, a.Addr, "", "kv", "get", "-recurse", "/app/"); r.code != 0 || r.stdout != "app/a:v-app/a\napp/b:v-app/b\n" {
		t.Fatalf("kv get -recurse /app/ = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := run(t, a.Addr, "", "kv", "get", "-recurse"); r.code != 0 || strings.Count(r.stdout, "\n") != 2 {
		t.Fatalf("kv get -recurse = %d %q", r.code, r.stdout)
	}
	r := run(t, a.Addr, "", "kv", "get", "-detailed", "app/b")
	r.expect(t, 0, "Flags            3\nKey              app/b\n", "")
	if !strings.Contains(r.stdout, "ModifyIndex      "+itoa(get(t, a, "app/b").ModifyIndex)+"\n") {
		t.Fatalf("kv get -detailed = %q", r.stdout)
	}
	run(t, a.Addr, "", "kv", "get", "app/missing").expect(t, 1, "", "No key exists at: app/missing")
	if r := run(t, a.Addr, "", "kv", "get", "-recurse", "nothing/"); r.code != 0 || r.stdout != "" {
		t.Fatalf("kv get -recurse of an empty prefix = %d %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestKVDelete(t *testing.T) {
	a := apitest.Start(t)
	ctx := context.Background()
	for _, k := range []string{"app/a", "app/b", "app/c", "keep"} {
		a.Client.KV().Put(ctx, api.KVPair{Key: k, Value: []byte("v")})
	}
	run(t, a.Addr, "", "kv", "delete", "/app/a").expect(t, 0, "Success! Deleted key: app/a\n", "")
	if get(t, a, "app/a") != nil {
		t.Fatal("kv delete /app/a left app/a")
	}
	idx := get(t, a, "app/b").ModifyIndex
	run(t, a.Addr, "", "kv", "delete", "-cas", "-modify-index", itoa(idx+1), "app/b").expect(t, 1, "", "does not match")
	run(t, a.Addr, "", "kv", "delete", "-cas", "-modify-index", itoa(idx), "app/b").expect(t, 0, "Deleted key: app/b", "")
	run(t, a.Addr, "", "kv", "delete", "-recurse", "app/").expect(t, 0, "Success!", "")
	if pairs, _ := a.Client.KV().List(ctx, ""); len(pairs) != 1 || pairs[0].Key != "keep" {
		t.Fatalf("left after kv delete -recurse app/: %v", pairs)
	}
}

func TestKVListExportImport(t *testing.T) {
	src, dst := apitest.Start(t), apitest.Start(t)
	ctx := context.Background()
	for i, k := range []string{"app/a", "app/b/c", "app/empty", "other"} {
		src.Client.KV().Put(ctx, api.KVPair{Key: k, Value: []byte(strings.TrimPrefix(k, "app/empty")), Flags: uint64(i)})
	}
	if r := run(t, src.Addr, "", "kv", "list", "app/"); r.code != 0 || r.stdout != "app/a\napp/b/c\napp/empty\n" {
		t.Fatalf("kv list = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := run(t, src.Addr, "", "kv", "list", "-separator", "/", "app/"); r.stdout != "app/a\napp/b/\napp/empty\n" {
		t.Fatalf("kv list -separator = %q", r.stdout)
	}
	if r := run(t, src.Addr, "", "kv", "list", "nothing/"); r.code != 0 || r.stdout != "" {
		t.Fatalf("kv list of an empty prefix = %d %q", r.code, r.stdout)
	}
	export := run(t, src.Addr, "", "kv", "export", "app/")
	export.expect(t, 0, `"flags": 1`, "")

	run(t, dst.Addr, export.stdout, "kv", "import", "-prefix", "copy/").expect(t, 0, "Imported: copy/app/b/c\n", "")
	file := filepath.Join(t.TempDir(), "export.json")
	os.WriteFile(file, []byte(export.stdout), 0o600)
	run(t, dst.Addr, "", "kv", "import", "@"+file).expect(t, 0, "Imported: app/a\n", "")
	if r := run(t, dst.Addr, "", "kv", "export", "app/"); r.stdout != export.stdout {
		t.Fatalf("export after import:\n%s\nwant\n%s", r.stdout, export.stdout)
	}
	if p := get(t, dst, "copy/app/empty"); p == nil || len(p.Value) != 0 || p.Flags != 2 {
		t.Fatalf("copy/app/empty = %+v", p)
	}

	// Nothing is written from input that is not all valid.
	for _, tt := range []struct{ in, want string }{
		{`[{"key": "x/ok", "value": "MQ=="}, {"key": "x/` + "\xff" + `", "value": "MQ=="}]`, "not valid UTF-8 at byte"},
		{`[{"key": "x/ok", "value": "MQ=="}, {"key": "x/b", "value": "not base64!"}]`, "value is not base64"},
		{`[{"key": "x/ok", "value": "MQ=="}, {"key": "", "value": "MQ=="}]`, "entry 1: empty key"},
		{`{"key": "x"}`, "reading import data"},
	} {
		r := run(t, dst.Addr, tt.in, "kv", "import")
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
			t.Errorf("kv import %q = %d %q %q; want %q", tt.in, r.code, r.stdout, r.stderr, tt.want)
		}
	}
	run(t, dst.Addr, "[]", "kv", "import", "-prefix", "bad\xff/").expect(t, 1, "", "keys must be valid UTF-8; nothing imported")
	if pairs, _ := dst.Client.KV().List(ctx, "x/"); len(pairs) != 0 {
		t.Fatalf("a refused import wrote %v", pairs)
	}
	run(t, dst.Addr, "", "kv", "import", file+".missing").expect(t, 1, "", "no such file")
}

// TestKVWatch runs kv watch in-process until its context ends: the
// current keys first, then each change, then exit 0.
func TestKVWatch(t *testing.T) {
	a := apitest.Start(t)
	ctx := context.Background()
	a.Client.KV().Put(ctx, api.KVPair{Key: "app/a", Value: []byte("one")})
	var out, errb testutil.SyncBuffer
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	code := make(chan int, 1)
	go func() {
		code <- Main([]string{"kv", "watch", "-format", "json", "app/"}, testEnv(wctx, a.Addr, "", &out, &errb))
	}()
	waitFor(t, &out, `{"key":"app/a","value":"b25l","flags":0,"modify_index":`)
	a.Client.KV().Put(ctx, api.KVPair{Key: "other", Value: []byte("x")})
	a.Client.KV().Put(ctx, api.KVPair{Key: "app/b", Value: []byte("two"), Flags: 4})
	waitFor(t, &out, `{"key":"app/b","value":"dHdv","flags":4,`)
	a.Client.KV().Delete(ctx, "app/a")
	waitFor(t, &out, `{"key":"app/a","value":"","flags":0,"modify_index":`)
	stop()
	select {
	case c := <-code:
		if c != 0 || errb.String() != "" {
			t.Fatalf("kv watch ended with %d: %s", c, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("kv watch did not end with its context")
	}
	if lines := strings.Count(out.String(), "\n"); lines != 3 || strings.Contains(out.String(), "other") {
		t.Fatalf("kv watch printed:\n%s", out.String())
	}

	// Without an agent it gives up after -max-errors failures in a row.
	r := run(t, apitest.DeadAddress(t), "", "kv", "watch", "-max-errors", "1", "app/")
	r.expect(t, 1, "", `watching "app/": giving up after 1 failed requests in a row: cannot reach the agent`)
}

// waitFor polls o until it holds s, for at most 15 s.
func waitFor(t *testing.T, o *testutil.SyncBuffer, s string) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() error {
		if !strings.Contains(o.String(), s) {
			return fmt.Errorf("output never held %q:\n%s", s, o.String())
		}
		return nil
	})
}
