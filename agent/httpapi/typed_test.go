package httpapi

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/layers"
	"github.com/edgeplane/edgeplane/agent/schema"
	"github.com/edgeplane/edgeplane/store"
)

// typedAPI serves the API with the default layers of node n1 (site
// berlin, environment prod), the schema guard and a running Keeper,
// whose last report reported returns.
func typedAPI(t *testing.T) (u string, st *store.Store, k *schema.Keeper, reported func() map[string]string) {
	t.Helper()
	r, err := layers.New(layers.Default, layers.Names{Node: "n1", Site: "berlin", Env: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	var g *schema.Guard
	srv, st, _ := testAPI(t, func(c *Config) {
		s := c.Store.(*store.Store)
		c.Layers = storeLayers{Store: s, r: r}
		g = schema.NewGuard(s, r.Strip)
		c.Schemas = g
	})
	var (
		mu   sync.Mutex
		last map[string]string
	)
	k = schema.NewKeeper(st, g, func(bad map[string]string) {
		mu.Lock()
		defer mu.Unlock()
		last = bad
	}, nil)
	if err := k.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return srv.URL, st, k, func() map[string]string {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(last)
	}
}

// applyRemote writes key as a record replicated from another node.
func applyRemote(t *testing.T, st *store.Store, key, value string) {
	t.Helper()
	rec := store.Record{Key: key, Value: []byte(value), Version: st.Clock().Now(), Origin: "peer-node"}
	if n, err := st.Apply([]store.Record{rec}); err != nil || n != 1 {
		t.Fatalf("Apply: %d, %v", n, err)
	}
}

func resolveOf(t *testing.T, u, key string) (int, api.ResolvedPair) {
	t.Helper()
	resp, body := do(t, "GET", u+"/v1/edgeplane/resolve/"+key, "")
	var p api.ResolvedPair
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, p
}

func TestTypedPutRefused(t *testing.T) {
	u, st, _, _ := typedAPI(t)
	if resp, body := do(t, "PUT", u+"/v1/kv/_schema/app/", `{"type":"duration","max":"60s"}`); resp.StatusCode != 200 || body != "true" {
		t.Fatalf("PUT schema: %d %s", resp.StatusCode, body)
	}
	resp, body := do(t, "PUT", u+"/v1/kv/global/app/timeout", "90s")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "global/app/timeout: 90s above max 60s") {
		t.Fatalf("PUT 90s: %d %s", resp.StatusCode, body)
	}
	if _, found, _, _ := st.Get("global/app/timeout"); found {
		t.Fatal("a refused PUT wrote the key")
	}
	// A key written under no layer is governed too, and the node layer of
	// another node.
	for _, k := range []string{"app/timeout", "node/n9/app/timeout"} {
		if resp, body := do(t, "PUT", u+"/v1/kv/"+k, "2h"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, k+": 2h above max 60s") {
			t.Fatalf("PUT %s: %d %s", k, resp.StatusCode, body)
		}
	}
	if resp, body := do(t, "PUT", u+"/v1/kv/global/app/timeout", "30s"); resp.StatusCode != 200 || body != "true" {
		t.Fatalf("PUT 30s: %d %s", resp.StatusCode, body)
	}
	// Keys outside the schema's prefix are free.
	if resp, body := do(t, "PUT", u+"/v1/kv/global/other/timeout", "forever"); resp.StatusCode != 200 {
		t.Fatalf("PUT other: %d %s", resp.StatusCode, body)
	}
	// The longest prefix wins.
	do(t, "PUT", u+"/v1/kv/_schema/app/retries", `{"type":"int","min":0,"max":5}`)
	if resp, body := do(t, "PUT", u+"/v1/kv/site/berlin/app/retries", "9"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "9 above max 5") {
		t.Fatalf("PUT retries: %d %s", resp.StatusCode, body)
	}
}

// TestTypedHostileSchemas: schemas a local client may write to hurt the
// agent are refused with 400 and not written.
func TestTypedHostileSchemas(t *testing.T) {
	u, st, _, _ := typedAPI(t)
	for name, body := range map[string]string{
		"huge":          `{"type":"enum","values":["` + strings.Repeat("v", schema.MaxSize) + `"]}`,
		"long pattern":  `{"type":"string","pattern":"` + strings.Repeat("(a+)+", 200) + `"}`,
		"deep pattern":  `{"type":"string","pattern":"` + strings.Repeat("(", 300) + strings.Repeat(")", 300) + `"}`,
		"wrong type":    `"int"`,
		"array":         `[{"type":"int"}]`,
		"unknown field": `{"type":"int","format":"x"}`,
		"empty":         ``,
	} {
		resp, out := do(t, "PUT", u+"/v1/kv/_schema/app/", body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(out, "invalid schema") {
			t.Errorf("%s: %d %.100s", name, resp.StatusCode, out)
		}
	}
	if resp, out := do(t, "PUT", u+"/v1/kv/_schema/", `{"type":"int"}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("schema without prefix: %d %s", resp.StatusCode, out)
	}
	if _, found, _, _ := st.Get("_schema/app/"); found {
		t.Fatal("a refused schema was written")
	}
}

// TestTypedReplicatedValue: a value that arrives by replication and
// breaks its schema is not served by resolve, which serves the last good
// value and says so, while the Keeper reports the key and the rule; a
// valid value restores both. Plain KV reads return what is stored.
func TestTypedReplicatedValue(t *testing.T) {
	u, st, k, reported := typedAPI(t)
	do(t, "PUT", u+"/v1/kv/_schema/app/", `{"type":"duration","max":"60s"}`)
	do(t, "PUT", u+"/v1/kv/global/app/timeout", "30s")
	pollUntil(t, "the last good value kept", func() bool {
		v, ok, _ := st.Local(schema.Bucket).Get("global/app/timeout")
		return ok && strings.Contains(string(v), `"MzBz"`) // base64 of 30s
	})
	if r := reported(); r == nil || len(r) != 0 {
		t.Fatalf("reported %v, want an empty report", r)
	}

	applyRemote(t, st, "global/app/timeout", "90s")
	pollUntil(t, "the bad key reported", func() bool { return reported()["global/app/timeout"] == "90s above max 60s" })
	code, p := resolveOf(t, u, "app/timeout")
	if code != 200 || string(p.Value) != "30s" || !p.LastGood || p.Rule != "90s above max 60s" || p.LayerKey != "global/app/timeout" {
		t.Fatalf("resolve: %d %+v", code, p)
	}
	if e, _, _, _ := st.Get("global/app/timeout"); string(e.Value) != "90s" {
		t.Fatalf("stored %q", e.Value)
	}
	if _, body := do(t, "GET", u+"/v1/kv/global/app/timeout?raw", ""); body != "90s" {
		t.Fatalf("KV read %q, want the stored value", body)
	}
	_, body := do(t, "GET", u+"/v1/edgeplane/resolve/app/timeout?explain", "")
	if !strings.Contains(body, `"Rule":"90s above max 60s","LastGood":true`) {
		t.Fatalf("explain: %s", body)
	}
	_, body = do(t, "GET", u+"/v1/edgeplane/resolve/app/?recurse", "")
	if !strings.Contains(body, `"LastGood":true`) || !strings.Contains(body, `"Value":"MzBz"`) {
		t.Fatalf("recurse: %s", body)
	}

	applyRemote(t, st, "global/app/timeout", "45s")
	pollUntil(t, "the key reported valid", func() bool { r := reported(); return r != nil && len(r) == 0 })
	code, p = resolveOf(t, u, "app/timeout")
	if code != 200 || string(p.Value) != "45s" || p.LastGood || p.Rule != "" {
		t.Fatalf("resolve after a valid value: %d %+v", code, p)
	}
	if len(k.Bad()) != 0 {
		t.Fatalf("Bad: %v", k.Bad())
	}
}

// TestTypedSchemaChange: a schema change that makes stored values
// invalid is reported; a layer whose value and last good value both
// break the new schema is skipped, and the next layer answers.
func TestTypedSchemaChange(t *testing.T) {
	u, st, _, reported := typedAPI(t)
	do(t, "PUT", u+"/v1/kv/_schema/app/", `{"type":"duration","max":"60s"}`)
	do(t, "PUT", u+"/v1/kv/node/n1/app/timeout", "45s")
	do(t, "PUT", u+"/v1/kv/global/app/timeout", "5s")
	pollUntil(t, "the last good value kept", func() bool {
		_, ok, _ := st.Local(schema.Bucket).Get("node/n1/app/timeout")
		return ok
	})
	if code, p := resolveOf(t, u, "app/timeout"); code != 200 || string(p.Value) != "45s" {
		t.Fatalf("resolve: %d %+v", code, p)
	}
	if resp, body := do(t, "PUT", u+"/v1/kv/_schema/app/", `{"type":"duration","max":"40s"}`); resp.StatusCode != 200 {
		t.Fatalf("PUT schema: %d %s", resp.StatusCode, body)
	}
	pollUntil(t, "the bad key reported", func() bool { return reported()["node/n1/app/timeout"] == "45s above max 40s" })
	code, p := resolveOf(t, u, "app/timeout")
	if code != 200 || string(p.Value) != "5s" || p.Layer != "global" || p.LastGood {
		t.Fatalf("resolve after the schema change: %d %+v", code, p)
	}
	// Removing the schema makes the value good again.
	do(t, "DELETE", u+"/v1/kv/_schema/app/", "")
	pollUntil(t, "the key reported valid", func() bool { r := reported(); return r != nil && len(r) == 0 })
	if code, p := resolveOf(t, u, "app/timeout"); code != 200 || string(p.Value) != "45s" {
		t.Fatalf("resolve without schema: %d %+v", code, p)
	}
	if _, ok, _ := st.Local(schema.Bucket).Get("node/n1/app/timeout"); ok {
		t.Fatal("a key no schema governs keeps a last good value")
	}
}
