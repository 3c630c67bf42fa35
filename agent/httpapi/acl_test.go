package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/jointoken"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
)

// The tokens of aclServer.
const (
	readToken = "read-token-0123456789" // reads every key, nothing else
	appToken  = "app-token-0123456789"  // writes app/ but app/secret, reads the agent
	opsToken  = "ops-token-0123456789"  // writes everything, operates the agent
)

// watchedMesh is a mesh that counts the operations that change it.
type watchedMesh struct {
	fakeMesh
	ops atomic.Int32
}

func (m *watchedMesh) Join(addrs []string) (int, error) { m.ops.Add(1); return len(addrs), nil }
func (m *watchedMesh) Leave() error                     { m.ops.Add(1); return nil }
func (m *watchedMesh) ForceLeave(string, bool) error    { m.ops.Add(1); return nil }
func (m *watchedMesh) Keyring(_ context.Context, op, _ string) ([]gossip.KeyringReply, error) {
	if op != gossip.KeyringList {
		m.ops.Add(1)
	}
	return nil, nil
}

// watchedRoles counts restores and reloads.
type watchedRoles struct {
	fakeRoles
	ops *atomic.Int32
}

func (r watchedRoles) Reload() (ReloadReport, error) { r.ops.Add(1); return ReloadReport{}, nil }

func (r watchedRoles) Compact(context.Context) (api.CompactResult, error) {
	r.ops.Add(1)
	return api.CompactResult{Before: 2, After: 1}, nil
}

func (r watchedRoles) JoinToken(seeds []string) (jointoken.Token, error) {
	r.ops.Add(1)
	return r.fakeRoles.JoinToken(seeds)
}

// aclServer serves the API with ACLs on: the three tokens above, an
// anonymous policy that reads public/, and the default policy given. ops
// counts the agent operations that got through. more change the API's
// configuration further.
func aclServer(t *testing.T, defaultAllow bool, more ...func(c *Config)) (srv *httptest.Server, st *store.Store, ops *atomic.Int32) {
	t.Helper()
	res, err := acl.NewResolver(acl.Config{
		DefaultAllow: defaultAllow,
		Anonymous:    acl.Compile(acl.Rules{KeyPrefix: map[string]acl.Access{"public/": acl.Read}}),
		Tokens: []acl.Token{
			{Secret: readToken, Description: "reader", Policy: acl.Compile(acl.Rules{KeyPrefix: map[string]acl.Access{"": acl.Read}})},
			{Secret: appToken, Description: "app", Policy: acl.Compile(acl.Rules{
				KeyPrefix: map[string]acl.Access{"app/": acl.Write},
				Key:       map[string]acl.Access{"app/secret": acl.Deny},
				Agent:     acl.Read,
			})},
			{Secret: opsToken, Description: "operator", Policy: acl.Compile(acl.Rules{
				KeyPrefix: map[string]acl.Access{"": acl.Write}, Agent: acl.Write,
			})},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mesh := &watchedMesh{fakeMesh: fakeMesh{members: []gossip.Member{member("node-a", "s", gossip.StatusAlive)}}}
	roles := watchedRoles{ops: &mesh.ops}
	snaps := fakeSnapshots{restore: func(r io.Reader) (RestoreResult, error) {
		mesh.ops.Add(1)
		io.Copy(io.Discard, r)
		return RestoreResult{}, nil
	}}
	srv, st = testServerWith(t, func(c *Config) {
		c.Mesh, c.Snapshots, c.Replication, c.Ping, c.Reload, c.JoinTokens = mesh, snaps, roles, roles, roles, roles
		c.Compactor = roles
		c.Metrics, c.MetricsRelay = fakeMetrics{}, fakeRelay{}
		c.ACL = func() *acl.Resolver { return res }
		for _, set := range more {
			set(c)
		}
	})
	return srv, st, &mesh.ops
}

// send sends a request with the given token header (name and value; ""
// for none) and returns its status and body.
func send(t *testing.T, method, u, header, value, body string) (int, string) {
	t.Helper()
	code, b, _ := sendFull(t, method, u, header, value, body)
	return code, b
}

// sendFull is send that returns the response's headers too.
func sendFull(t *testing.T, method, u, header, value, body string) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set(header, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func consulClientWith(t *testing.T, srv *httptest.Server, token string) *consul.Client {
	t.Helper()
	c, err := consul.NewClient(&consul.Config{Address: strings.TrimPrefix(srv.URL, "http://"), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestACLWithConsulClient: the Consul Go client, token in hand, is refused
// what its token lacks: a KV write with a read token, a leave without one.
func TestACLWithConsulClient(t *testing.T) {
	srv, st, ops := aclServer(t, false)
	if _, err := st.Put("app/a", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	reader := consulClientWith(t, srv, readToken).KV()
	if p, _, err := reader.Get("app/a", nil); err != nil || p == nil || string(p.Value) != "1" {
		t.Fatalf("read token Get = %+v, %v", p, err)
	}
	_, err := reader.Put(&consul.KVPair{Key: "app/a", Value: []byte("2")}, nil)
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "Permission denied") {
		t.Fatalf("read token Put = %v, want 403 Permission denied", err)
	}
	if e, _, _, _ := st.Get("app/a"); string(e.Value) != "1" {
		t.Fatalf("a refused write was stored: %q", e.Value)
	}

	err = consulClientWith(t, srv, "").Agent().Leave()
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "Permission denied") {
		t.Fatalf("Leave without a token = %v, want 403 Permission denied", err)
	}
	if err := consulClientWith(t, srv, readToken).Agent().Leave(); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("Leave with a read token = %v, want 403", err)
	}
	if n := ops.Load(); n != 0 {
		t.Fatalf("%d agent operations got through", n)
	}
	if err := consulClientWith(t, srv, opsToken).Agent().Leave(); err != nil {
		t.Fatalf("Leave with an agent write token: %v", err)
	}
	if n := ops.Load(); n != 1 {
		t.Fatalf("leave with the operator's token: %d operations, want 1", n)
	}
	if _, err := consulClientWith(t, srv, "no-such-token-0123456789").Agent().Self(); err == nil || !strings.Contains(err.Error(), "ACL not found") {
		t.Fatalf("Self with an unknown token = %v, want 403 ACL not found", err)
	}
}

// TestACLTokenPlaces: a token counts in the three places Consul reads it,
// ?token= first, and nowhere else.
func TestACLTokenPlaces(t *testing.T) {
	srv, _, ops := aclServer(t, false)
	leave := srv.URL + "/v1/agent/leave"
	for _, c := range []struct {
		name, url, header, value string
	}{
		{"X-Consul-Token", leave, "X-Consul-Token", opsToken},
		{"x-consul-token in lower case", leave, "x-consul-token", opsToken},
		{"Authorization: Bearer", leave, "Authorization", "Bearer " + opsToken},
		{"Authorization: bearer, padded", leave, "Authorization", "bearer   " + opsToken + " "},
		{"?token=", leave + "?token=" + opsToken, "", ""},
		{"?token= before the header", leave + "?token=" + opsToken, "X-Consul-Token", readToken},
	} {
		before := ops.Load()
		if code, body := send(t, "PUT", c.url, c.header, c.value, ""); code != 200 || ops.Load() != before+1 {
			t.Errorf("%s: %d %q, want the leave to pass", c.name, code, body)
		}
	}
	if code, _ := send(t, "PUT", leave+"?token="+readToken, "X-Consul-Token", opsToken, ""); code != 403 {
		t.Errorf("?token= of a reader with the operator's header = %d, want 403: the query comes first", code)
	}
}

// TestACLHostileClient plays a local process without the operator's token
// trying the agent's controls every way it can: no token, wrong tokens,
// the token where edgeplane does not read one, paths that dodge the
// route table. Nothing gets through.
func TestACLHostileClient(t *testing.T) {
	srv, _, ops := aclServer(t, true) // default allow: agent write still needs a rule
	const anonDenied = "Permission denied: anonymous token lacks permission 'agent:write'"
	type attempt struct {
		name, header, value string
		want                string
	}
	attempts := []attempt{
		{"no token", "", "", anonDenied},
		{"wrong token", "X-Consul-Token", "guess-0123456789abcdef", "ACL not found"},
		{"a prefix of the token", "X-Consul-Token", opsToken[:len(opsToken)-1], "ACL not found"},
		{"token with a suffix", "X-Consul-Token", opsToken + "x", "ACL not found"},
		{"agent read token", "X-Consul-Token", appToken, "Permission denied: token lacks permission 'agent:write'"},
		{"token as a cookie", "Cookie", "token=" + opsToken, anonDenied},
		{"token in basic auth", "Authorization", "Basic b3BzOm9wcy10b2tlbi0wMTIzNDU2Nzg5", anonDenied},
		{"token without a scheme", "Authorization", opsToken, anonDenied},
		{"token under another header", "X-Auth-Token", opsToken, anonDenied},
		{"token as Consul's old header", "X-Vault-Token", opsToken, anonDenied},
	}
	controls := []struct{ method, path, body string }{
		{"PUT", "/v1/agent/leave", ""},
		{"PUT", "/v1/agent/join/10.0.0.1", ""},
		{"PUT", "/v1/agent/force-leave/node-b", ""},
		{"PUT", "/v1/agent/reload", ""},
		{"GET", "/v1/operator/keyring", ""},
		{"POST", "/v1/operator/keyring", `{"Key":"AAECAwQFBgcICQoLDA0ODw=="}`},
		{"PUT", "/v1/operator/keyring", `{"Key":"AAECAwQFBgcICQoLDA0ODw=="}`},
		{"DELETE", "/v1/operator/keyring", `{"Key":"AAECAwQFBgcICQoLDA0ODw=="}`},
		{"GET", "/v1/agent/join-token", ""},
		{"GET", "/v1/edgeplane/snapshot", ""},
		{"PUT", "/v1/edgeplane/snapshot", "snapshot"},
		{"PUT", "/v1/edgeplane/store/compact", ""},
		{"PUT", "/v1/edgeplane/revoke/node-b", ""}, // not served yet: closed all the same
	}
	for _, c := range controls {
		for _, a := range attempts {
			code, body := send(t, c.method, srv.URL+c.path, a.header, a.value, c.body)
			if code != http.StatusForbidden || !strings.Contains(body, a.want) {
				t.Errorf("%s %s with %s: %d %q, want 403 %q", c.method, c.path, a.name, code, body, a.want)
			}
		}
		// In the query under another name, or in the body: anonymous.
		code, _ := send(t, c.method, srv.URL+c.path+"?Token="+opsToken+"&x-consul-token="+opsToken, "", "", `{"token":"`+opsToken+`"}`)
		if code != http.StatusForbidden {
			t.Errorf("%s %s with the token in other query names or the body: %d, want 403", c.method, c.path, code)
		}
	}
	// Paths that reach the agent's controls around the route table.
	for _, p := range []struct{ method, path string }{
		{"PUT", "/v1/agent//leave"},
		{"PUT", "/v1/agent/./leave"},
		{"PUT", "/v1/agent/self/../leave"},
		{"GET", "/v1/edgeplane/rpc/ping/../../agent/leave"},
		{"GET", "/v1/edgeplane/rpc/ping/%2e%2e%2f%2e%2e%2fagent%2fleave"},
		{"GET", "/v1/edgeplane/metrics/../../agent/leave"},
		{"GET", "/v1/edgeplane/metrics/%2e%2e%2f%2e%2e%2fagent%2fleave"},
		{"PUT", "/v1/agent/leave?token="},
	} {
		req, _ := http.NewRequest(p.method, srv.URL+p.path, nil)
		req.Header.Set("X-Consul-Token", appToken) // may read the agent, not operate it
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			t.Errorf("%s %s with an agent read token: %d", p.method, p.path, resp.StatusCode)
		}
	}
	if n := ops.Load(); n != 0 {
		t.Fatalf("%d agent operations got through", n)
	}
}

// TestACLRoutes: what each token may do outside KV.
func TestACLRoutes(t *testing.T) {
	srv, _, _ := aclServer(t, false)
	type want struct{ anon, app, ops int }
	for _, c := range []struct {
		method, path string
		want         want
	}{
		{"GET", "/v1/status/leader", want{200, 200, 200}},
		{"GET", "/v1/status/peers", want{200, 200, 200}},
		{"GET", "/v1/agent/self", want{403, 200, 200}},
		{"HEAD", "/v1/agent/self", want{403, 200, 200}},
		{"GET", "/v1/agent/members", want{403, 200, 200}},
		{"GET", "/v1/catalog/nodes", want{403, 200, 200}},
		{"GET", "/v1/edgeplane/replication", want{403, 200, 200}},
		{"GET", "/v1/edgeplane/rpc/ping/node-b", want{403, 200, 200}},
		{"GET", "/v1/edgeplane/metrics/node-b", want{403, 200, 200}},
		{"GET", "/metrics", want{403, 200, 200}},
		{"PUT", "/v1/agent/leave", want{403, 403, 200}},
		{"PUT", "/v1/agent/reload", want{403, 403, 200}},
		{"GET", "/v1/operator/keyring", want{403, 403, 200}},
		{"GET", "/v1/agent/join-token", want{403, 403, 200}},
		{"GET", "/v1/edgeplane/snapshot", want{403, 403, 200}},
		{"PUT", "/v1/edgeplane/store/compact", want{403, 403, 200}},
		{"GET", "/v1/catalog/gateway-services/gw", want{403, 403, 404}}, // not served: 404 once allowed
		{"GET", "/v1/catalog/services", want{404, 404, 404}},            // service rules, checked by its handler (none here)
	} {
		for _, tok := range []struct {
			secret string
			want   int
		}{{"", c.want.anon}, {appToken, c.want.app}, {opsToken, c.want.ops}} {
			if code, body := send(t, c.method, srv.URL+c.path, "X-Consul-Token", tok.secret, ""); code != tok.want {
				t.Errorf("%s %s with %q: %d %q, want %d", c.method, c.path, tok.secret, code, body, tok.want)
			}
		}
	}
}

func TestACLKV(t *testing.T) {
	for _, def := range []bool{false, true} {
		srv, st, _ := aclServer(t, def)
		for _, k := range []string{"app/a", "app/secret", "public/a", "other/a"} {
			if _, err := st.Put(k, []byte("v"), 0); err != nil {
				t.Fatal(err)
			}
		}
		// allow is the status under the default policy allow, where it
		// differs.
		for _, c := range []struct {
			token, method, path string
			want, allow         int
		}{
			{readToken, "GET", "/v1/kv/app/a", 200, 0},
			{readToken, "GET", "/v1/kv/app/missing", 404, 0}, // read, not there
			{readToken, "PUT", "/v1/kv/app/a", 403, 0},       // a read rule denies write under allow too
			{readToken, "DELETE", "/v1/kv/app/a", 403, 0},
			{appToken, "PUT", "/v1/kv/app/b", 200, 0},
			{appToken, "PUT", "/v1/kv/app/b?cas=0", 200, 0},
			{appToken, "PUT", "/v1/kv/app/secret", 403, 0},
			{appToken, "GET", "/v1/kv/app/secret", 403, 0},
			{appToken, "GET", "/v1/kv/other/a", 403, 200},
			{appToken, "DELETE", "/v1/kv/app/?recurse", 403, 0}, // app/secret lies under it
			{appToken, "DELETE", "/v1/kv/app/sub/?recurse", 200, 0},
			{appToken, "DELETE", "/v1/kv/app/b", 200, 0},
			{"", "GET", "/v1/kv/public/a", 200, 0},
			{"", "HEAD", "/v1/kv/public/a", 200, 0},
			{"", "PUT", "/v1/kv/public/a", 403, 0},
			{"", "GET", "/v1/kv/other/a", 403, 200},
			{"", "PUT", "/v1/kv/other/b", 403, 200},
			{"", "DELETE", "/v1/kv/?recurse", 403, 403}, // public/ is read-only
			{opsToken, "DELETE", "/v1/kv/other/?recurse", 200, 0},
			// A blocking read of a key the token may not read is refused
			// at once, not after the wait.
			{appToken, "GET", "/v1/kv/app/secret?index=1000000&wait=10m", 403, 0},
		} {
			want := c.want
			if def && c.allow != 0 {
				want = c.allow
			}
			code, body := send(t, c.method, srv.URL+c.path, "X-Consul-Token", c.token, "v")
			if code != want {
				t.Errorf("default allow %v: %s %s with %q: %d %q, want %d", def, c.method, c.path, c.token, code, body, want)
			}
			if want == 403 && !strings.HasPrefix(body, "Permission denied") {
				t.Errorf("default allow %v: %s %s: body %q", def, c.method, c.path, body)
			}
		}
		if e, _, _, _ := st.Get("app/secret"); string(e.Value) != "v" || e.Deleted {
			t.Errorf("default allow %v: app/secret changed: %+v", def, e)
		}
	}
}

// TestACLFilteredListing: a recursive or keys read lists only what the
// token may read, and says so to a client that named a token.
func TestACLFilteredListing(t *testing.T) {
	srv, st, _ := aclServer(t, false)
	for _, k := range []string{"app/a", "app/b", "app/secret", "app/sub/c", "other/x", "public/p"} {
		if _, err := st.Put(k, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	keysOf := func(t *testing.T, token, query string) (int, []string, string) {
		t.Helper()
		code, body, filtered := get(t, srv.URL+"/v1/kv/"+query, token)
		if code != 200 {
			return code, nil, filtered
		}
		var keys []string
		if strings.Contains(query, "recurse") {
			var pairs []consul.KVPair
			if err := json.Unmarshal([]byte(body), &pairs); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			for _, p := range pairs {
				keys = append(keys, p.Key)
			}
		} else if err := json.Unmarshal([]byte(body), &keys); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return code, keys, filtered
	}
	for _, c := range []struct {
		token, query string
		code         int
		keys         []string
		filtered     string
	}{
		{appToken, "app/?recurse", 200, []string{"app/a", "app/b", "app/sub/c"}, "true"},
		{appToken, "app/?keys", 200, []string{"app/a", "app/b", "app/sub/c"}, "true"},
		{appToken, "?keys&separator=/", 200, []string{"app/"}, "true"},
		{appToken, "app/?keys&separator=/", 200, []string{"app/a", "app/b", "app/sub/"}, "true"},
		{appToken, "app/sub/?recurse", 200, []string{"app/sub/c"}, ""}, // every key readable: not filtered
		{appToken, "other/?recurse", 404, nil, "true"},
		{readToken, "?recurse", 200, []string{"app/a", "app/b", "app/secret", "app/sub/c", "other/x", "public/p"}, ""},
		{readToken, "?keys&separator=/", 200, []string{"app/", "other/", "public/"}, ""},
		{"", "?keys&separator=/", 200, []string{"public/"}, ""}, // filtered, but the anonymous client is not told
		{"", "?recurse", 200, []string{"public/p"}, ""},
		{"", "app/?keys", 404, nil, ""},
	} {
		code, keys, filtered := keysOf(t, c.token, c.query)
		if code != c.code || !slices.Equal(keys, c.keys) || filtered != c.filtered {
			t.Errorf("%q %s = %d %q filtered %q; want %d %q filtered %q", c.token, c.query, code, keys, filtered, c.code, c.keys, c.filtered)
		}
	}
	// Through the Consul client, with its view of the header.
	pairs, meta, err := consulClientWith(t, srv, appToken).KV().List("app/", nil)
	if err != nil || len(pairs) != 3 || !meta.ResultsFilteredByACLs {
		t.Fatalf("Consul List = %d pairs, filtered %v, %v", len(pairs), meta.ResultsFilteredByACLs, err)
	}
}

// get reads u with token and returns the status, the body and the
// X-Consul-Results-Filtered-By-ACLs header.
func get(t *testing.T, u, token string) (int, string, string) {
	t.Helper()
	code, body, h := sendFull(t, "GET", u, "X-Consul-Token", token, "")
	return code, body, h.Get("X-Consul-Results-Filtered-By-ACLs")
}

// TestACLFilterAcrossPages filters an answer longer than a page, whose
// first pages hold nothing the token may read.
func TestACLFilterAcrossPages(t *testing.T) {
	srv, st, _ := aclServer(t, false)
	putValues(t, st, "a/", 8, 400<<10) // 3.2 MB that neither token below may read
	putValues(t, st, "app/", 2, 10)
	putValues(t, st, "public/", 1, 10)
	for _, c := range []struct {
		token, prefix, filtered string
	}{
		{appToken, "app/", "true"},
		{"", "public/", ""}, // the anonymous client is not told
	} {
		want, _, err := st.List(c.prefix)
		if err != nil {
			t.Fatal(err)
		}
		code, body, filtered := get(t, srv.URL+"/v1/kv/?recurse", c.token)
		if code != 200 || body != pairsJSON(t, want) || filtered != c.filtered {
			t.Errorf("%q: filtered recurse = %d, %q, filtered %q; want %q, filtered %q", c.token, code, body, filtered, pairsJSON(t, want), c.filtered)
		}
		var keys []string
		for _, e := range want {
			keys = append(keys, e.Key)
		}
		wantKeys, _ := json.Marshal(keys)
		if code, body, _ = get(t, srv.URL+"/v1/kv/?keys", c.token); code != 200 || body != string(wantKeys) {
			t.Errorf("%q: filtered keys = %d %q, want %s", c.token, code, body, wantKeys)
		}
	}
	if use := srv.Config.Handler.(*API).readBudget.inUse(); use != 0 {
		t.Errorf("%d bytes of the read budget still taken after the answer", use)
	}
}

// TestACLOff: without a resolver, tokens are ignored, wrong ones too.
func TestACLOff(t *testing.T) {
	srv, _ := testServerWith(t, func(c *Config) {
		c.Mesh = &fakeMesh{}
		c.ACL = func() *acl.Resolver { return nil }
	})
	if code, body := send(t, "PUT", srv.URL+"/v1/agent/leave", "X-Consul-Token", "whatever-0123456789", ""); code != 200 {
		t.Fatalf("leave with ACLs off = %d %q", code, body)
	}
	if code, _ := send(t, "PUT", srv.URL+"/v1/kv/a?token=x", "", "", "v"); code != 200 {
		t.Fatalf("KV write with ACLs off = %d", code)
	}
}

// TestACLSwap: the resolver is read for each request, so a reload's new
// tokens apply to the next one.
func TestACLSwap(t *testing.T) {
	var cur atomic.Pointer[acl.Resolver]
	srv, _ := testServerWith(t, func(c *Config) { c.ACL = cur.Load })
	if code, _ := send(t, "GET", srv.URL+"/v1/agent/self", "", "", ""); code != 200 {
		t.Fatalf("self with ACLs off = %d", code)
	}
	res, err := acl.NewResolver(acl.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Store(res)
	if code, _ := send(t, "GET", srv.URL+"/v1/agent/self", "", "", ""); code != 403 {
		t.Fatalf("self with ACLs on, default deny = %d", code)
	}
}

// FuzzAuthorize sends requests of any method, path, query and token
// headers: none gets past an agent write check unless the operator's
// secret is in it, and none panics.
func FuzzAuthorize(f *testing.F) {
	f.Add("PUT", "/v1/agent/leave", "", "", "")
	f.Add("PUT", "/v1/agent/leave", "token="+opsToken, "", "")
	f.Add("GET", "/v1/edgeplane/rpc/ping/../../agent/leave", "", appToken, "Bearer x")
	f.Add("DELETE", "/v1/kv/app/", "recurse&token="+appToken, "", "")
	f.Add("GET", "/v1/agent/self", "", "", "Bearer "+opsToken)
	res, err := acl.NewResolver(acl.Config{DefaultAllow: true, Tokens: []acl.Token{
		{Secret: opsToken, Policy: acl.Compile(acl.Rules{Agent: acl.Write})},
		{Secret: appToken, Policy: acl.Compile(acl.Rules{Agent: acl.Read})},
	}})
	if err != nil {
		f.Fatal(err)
	}
	a := &API{acl: func() *acl.Resolver { return res }, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	f.Fuzz(func(t *testing.T, method, path, query, token, authz string) {
		r := &http.Request{Method: method, URL: &url.URL{Path: path, RawQuery: query}, Header: http.Header{}}
		r.Header.Set("X-Consul-Token", token)
		r.Header.Set("Authorization", authz)
		w := httptest.NewRecorder()
		r2, ok := a.authorize(w, r)
		if !ok {
			if w.Code != http.StatusForbidden {
				t.Fatalf("refused with %d", w.Code)
			}
			return
		}
		carries := strings.Contains(query, opsToken) || strings.Contains(token, opsToken) || strings.Contains(authz, opsToken)
		if !strings.HasPrefix(path, "/v1/kv/") && routeNeeds(method, path) == acl.Write && !carries {
			t.Fatalf("%s %s?%s with %q, %q passed an agent write check", method, path, query, token, authz)
		}
		if z := authorizer(r2.Context()); z.AgentWrite() && !carries {
			t.Fatalf("%s %s?%s with %q, %q resolved to an agent write token", method, path, query, token, authz)
		}
	})
}
