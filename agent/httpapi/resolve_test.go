package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/layers"
	"github.com/edgeplane/edgeplane/store"
)

// storeLayers is the Layers role over a store, with the default layers of
// node n1 at site berlin in environment prod.
type storeLayers struct {
	*store.Store
	r *layers.Resolver
}

func (l storeLayers) Resolver() *layers.Resolver { return l.r }

// layeredAPI serves the API with the Layers role, and ACLs from res when
// it is not nil.
func layeredAPI(t *testing.T, res *acl.Resolver) (string, *store.Store, *API) {
	t.Helper()
	r, err := layers.New(layers.Default, layers.Names{Node: "n1", Site: "berlin", Env: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	srv, st, a := testAPI(t, func(c *Config) {
		c.Layers = storeLayers{Store: c.Store.(*store.Store), r: r}
		if res != nil {
			c.ACL = func() *acl.Resolver { return res }
		}
	})
	return srv.URL, st, a
}

func mustPut(t *testing.T, st *store.Store, key, value string) store.Entry {
	t.Helper()
	e, err := st.Put(key, []byte(value), 0)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func headerIndex(t *testing.T, h http.Header) uint64 {
	t.Helper()
	idx, err := strconv.ParseUint(h.Get("X-Consul-Index"), 10, 64)
	if err != nil || idx == 0 {
		t.Fatalf("X-Consul-Index %q", h.Get("X-Consul-Index"))
	}
	return idx
}

func TestResolveHTTP(t *testing.T) {
	u, st, _ := layeredAPI(t, nil)
	for _, k := range []string{"global/app/timeout", "env/prod/app/timeout", "site/berlin/app/timeout", "node/n2/app/timeout",
		"global/app/retries", "env/prod/app/retries", "node/n1/app/mode", "global/app/sub/k", "global/other"} {
		mustPut(t, st, k, k)
	}
	b64 := func(s string) string { v, _ := json.Marshal([]byte(s)); return string(v) }
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantBody           string // substring
	}{
		{"site beats env and global", "GET", "/app/timeout", 200, `"Layer":"site/berlin","LayerKey":"site/berlin/app/timeout"`},
		{"value is base64", "GET", "/app/timeout", 200, `"Value":` + b64("site/berlin/app/timeout")},
		{"key is relative", "GET", "/app/timeout", 200, `"Key":"app/timeout"`},
		{"env beats global", "GET", "/app/retries", 200, `"Layer":"env/prod"`},
		{"node layer", "GET", "/app/mode", 200, `"Layer":"node/n1"`},
		{"no layer holds it", "GET", "/app/none", 404, ""},
		{"explain", "GET", "/app/timeout?explain", 200, `{"Layer":"node/n1","LayerKey":"node/n1/app/timeout","Present":false,"Value":null,"Flags":0,"ModifyIndex":0}`},
		{"explain winner", "GET", "/app/timeout?explain", 200, `"Present":true,"Wins":true,"Value":` + b64("site/berlin/app/timeout")},
		{"explain without winner", "GET", "/app/none?explain", 200, `"Layer":""`},
		{"recurse", "GET", "/app/?recurse", 200, `"Key":"app/sub/k"`},
		{"recurse empty", "GET", "/nothing/?recurse", 404, ""},
		{"recurse root", "GET", "/?recurse", 200, `"Key":"other"`},
		{"head", "HEAD", "/app/timeout", 200, ""},
		{"dc accepted", "GET", "/app/timeout?dc=dc1&stale", 200, `"Layer":"site/berlin"`},
		{"other dc", "GET", "/app/timeout?dc=dc9", 500, noPathToDatacenter},
		{"explain and recurse", "GET", "/app/?explain&recurse", 400, "do not go together"},
		{"missing key", "GET", "/", 400, "missing key name"},
		{"unsupported parameter", "GET", "/app/timeout?raw", 400, "unsupported query parameter"},
		{"bad index", "GET", "/app/timeout?index=x", 400, "invalid index"},
		{"bad wait", "GET", "/app/timeout?index=1&wait=soon", 400, "invalid wait"},
		{"not UTF-8", "GET", "/app/%FF", 400, "UTF-8"},
		{"method", "PUT", "/app/timeout", 405, ""},
	}
	for _, tt := range tests {
		code, body, h := sendFull(t, tt.method, u+resolvePrefix[:len(resolvePrefix)-1]+tt.path, "", "", "")
		if code != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
			t.Errorf("%s: %s %s = %d %s, want %d containing %s", tt.name, tt.method, tt.path, code, body, tt.wantStatus, tt.wantBody)
		}
		if code == 200 || code == 404 {
			headerIndex(t, h)
		}
	}
	var merged []api.ResolvedPair
	_, body, _ := sendFull(t, "GET", u+resolvePrefix+"app/?recurse", "", "", "")
	if err := json.Unmarshal([]byte(body), &merged); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range merged {
		got = append(got, p.Key+"@"+p.Layer)
	}
	if want := "app/mode@node/n1 app/retries@env/prod app/sub/k@global app/timeout@site/berlin"; strings.Join(got, " ") != want {
		t.Errorf("recurse merged %q, want %q", got, want)
	}
}

func TestResolveWithoutTheRole(t *testing.T) {
	srv, _ := testServer(t)
	if code, _ := send(t, "GET", srv.URL+resolvePrefix+"app/x", "", "", ""); code != 404 {
		t.Fatalf("resolve without layers = %d, want 404", code)
	}
}

// blockingResolve sends a blocking resolve of path past index in the
// background; the answer's index comes on the channel.
func blockingResolve(t *testing.T, u, path string, index uint64) <-chan uint64 {
	c := make(chan uint64, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", u+resolvePrefix+path+sep(path)+"wait=20s&index="+strconv.FormatUint(index, 10), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			c <- 0
			return
		}
		resp.Body.Close()
		idx, _ := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
		c <- idx
	}()
	return c
}

// sep is what joins another query parameter to path.
func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

// waitBlocked waits until n blocking queries are in flight.
func waitBlocked(t *testing.T, a *API, n int64) {
	t.Helper()
	pollUntil(t, "blocking queries in flight", func() bool { return a.blocking.used.Load() == n })
}

func TestResolveBlockingWakesForCandidateKeysOnly(t *testing.T) {
	u, st, a := layeredAPI(t, nil)
	g := mustPut(t, st, "global/app/timeout", "30s")
	code, _, h := sendFull(t, "GET", u+resolvePrefix+"app/timeout", "", "", "")
	if code != 200 || headerIndex(t, h) != g.ModifyIndex {
		t.Fatalf("resolve = %d, index %s; want 200 at %d", code, h.Get("X-Consul-Index"), g.ModifyIndex)
	}

	// A higher layer gains the key. The writes to other keys before it
	// must not answer the query: its answer carries the node write's index.
	answer := blockingResolve(t, u, "app/timeout", g.ModifyIndex)
	waitBlocked(t, a, 1)
	for _, k := range []string{"global/app/timeoutx", "node/n2/app/timeout", "site/paris/app/timeout", "app/timeout", "global/app/other"} {
		mustPut(t, st, k, "x")
	}
	n := mustPut(t, st, "node/n1/app/timeout", "5s")
	if got := <-answer; got != n.ModifyIndex {
		t.Fatalf("blocking resolve answered at %d, want the node write's %d", got, n.ModifyIndex)
	}
	var p api.ResolvedPair
	_, body, _ := sendFull(t, "GET", u+resolvePrefix+"app/timeout", "", "", "")
	if err := json.Unmarshal([]byte(body), &p); err != nil || p.Layer != "node/n1" || string(p.Value) != "5s" {
		t.Fatalf("after the node write: %s, %v", body, err)
	}

	// It loses the key.
	answer = blockingResolve(t, u, "app/timeout", n.ModifyIndex)
	waitBlocked(t, a, 1)
	mustPut(t, st, "env/dev/app/timeout", "x")
	if _, err := st.Delete("node/n1/app/timeout", nil); err != nil {
		t.Fatal(err)
	}
	tomb, _, _, _ := st.Get("node/n1/app/timeout")
	if got := <-answer; got != tomb.ModifyIndex {
		t.Fatalf("blocking resolve answered at %d, want the node delete's %d", got, tomb.ModifyIndex)
	}
	_, body, _ = sendFull(t, "GET", u+resolvePrefix+"app/timeout", "", "", "")
	if err := json.Unmarshal([]byte(body), &p); err != nil || p.Layer != "global" {
		t.Fatalf("after the node delete: %s, %v", body, err)
	}

	// A blocking recurse wakes for a key under the prefix in any layer,
	// and not for keys elsewhere.
	answer = blockingResolve(t, u, "app/?recurse", tomb.ModifyIndex)
	waitBlocked(t, a, 1)
	mustPut(t, st, "global/apps", "x")
	mustPut(t, st, "site/paris/app/new", "x")
	e := mustPut(t, st, "env/prod/app/new", "x")
	if got := <-answer; got != e.ModifyIndex {
		t.Fatalf("blocking recurse answered at %d, want the env write's %d", got, e.ModifyIndex)
	}
}

func TestResolveACL(t *testing.T) {
	const nodeless, nobody = "nodeless-token", "nobody-token"
	res, err := acl.NewResolver(acl.Config{Tokens: []acl.Token{
		{Secret: nodeless, Description: "nodeless", Policy: acl.Compile(acl.Rules{KeyPrefix: map[string]acl.Access{"": acl.Read, "node/": acl.Deny}})},
		{Secret: nobody, Description: "nobody", Policy: acl.Compile(acl.Rules{KeyPrefix: map[string]acl.Access{"unrelated/": acl.Read}})},
	}})
	if err != nil {
		t.Fatal(err)
	}
	u, st, _ := layeredAPI(t, res)
	s := mustPut(t, st, "site/berlin/app/x", "site value")
	mustPut(t, st, "node/n1/app/x", "node secret")
	mustPut(t, st, "node/n1/app/y", "node secret")

	code, body, h := sendFull(t, "GET", u+resolvePrefix+"app/x", "X-Consul-Token", nodeless, "")
	var p api.ResolvedPair
	if code != 200 || json.Unmarshal([]byte(body), &p) != nil || p.Layer != "site/berlin" || string(p.Value) != "site value" {
		t.Fatalf("nodeless resolve = %d %s, want the site's value", code, body)
	}
	if headerIndex(t, h) != s.ModifyIndex || h.Get("X-Consul-Results-Filtered-By-ACLs") != "true" {
		t.Fatalf("nodeless resolve index %s (want %d, the node layer's writes unseen), filtered %q",
			h.Get("X-Consul-Index"), s.ModifyIndex, h.Get("X-Consul-Results-Filtered-By-ACLs"))
	}
	for _, path := range []string{"app/x?explain", "app/?recurse", "app/y", "app/y?explain"} {
		code, body := send(t, "GET", u+resolvePrefix+path, "X-Consul-Token", nodeless, "")
		if strings.Contains(body, "bm9kZSBzZWNyZXQ") || strings.Contains(body, "node secret") {
			t.Errorf("%s with the nodeless token = %d %s: shows the node layer's value", path, code, body)
		}
	}
	if _, body := send(t, "GET", u+resolvePrefix+"app/x?explain", "X-Consul-Token", nodeless, ""); !strings.Contains(body, `"LayerKey":"node/n1/app/x","Present":false,"Denied":true`) {
		t.Errorf("explain does not mark the node layer denied: %s", body)
	}
	if code, _ := send(t, "GET", u+resolvePrefix+"app/y", "X-Consul-Token", nodeless, ""); code != 404 {
		t.Errorf("a key only the unreadable layer holds = %d, want 404", code)
	}
	if code, body := send(t, "GET", u+resolvePrefix+"app/x", "X-Consul-Token", nobody, ""); code != 403 || !strings.Contains(body, "Permission denied") {
		t.Errorf("a token reading no layer = %d %s, want 403", code, body)
	}
	if code, body := send(t, "GET", u+resolvePrefix+"app/x", "", "", ""); code != 403 {
		t.Errorf("anonymous resolve = %d %s, want 403", code, body)
	}
	if code, body := send(t, "PUT", u+resolvePrefix+"app/x", "X-Consul-Token", nodeless, ""); code != 403 {
		t.Errorf("a write to a resolve path without agent write = %d %s, want 403", code, body)
	}
}

func FuzzParseResolveRequest(f *testing.F) {
	for _, s := range []string{
		"/v1/edgeplane/resolve/app/x", "/v1/edgeplane/resolve/app/?recurse", "/v1/edgeplane/resolve/a?explain",
		"/v1/edgeplane/resolve/?recurse&index=10&wait=5s", "/v1/edgeplane/resolve/a?explain&recurse",
		"/v1/edgeplane/resolve/%zz?%zz", "/v1/edgeplane/resolve/poison/%FF%FE", "/v1/kv/a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		req, err := parseResolveRequest(u)
		if err != nil {
			return
		}
		if req.wait <= 0 || req.wait > MaxWait {
			t.Fatalf("wait %v out of range", req.wait)
		}
		if req.key == "" && !req.recurse {
			t.Fatalf("accepted an empty key without recurse: %q", raw)
		}
		if req.recurse && req.explain {
			t.Fatalf("accepted explain with recurse: %q", raw)
		}
		if !utf8.ValidString(req.key) {
			t.Fatalf("accepted a key that is not valid UTF-8: %q", raw)
		}
	})
}
