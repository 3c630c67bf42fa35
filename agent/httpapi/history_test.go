package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/schema"
	"github.com/edgeplane/edgeplane/store"
)

// historyServer serves the API over a store that keeps 10 versions of
// each key, with schemas, and with ACLs when res is not nil.
func historyServer(t *testing.T, res *acl.Resolver) (*httptest.Server, *store.Store) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true, HistoryVersions: 10})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: st, History: st, Schemas: schema.NewGuard(st, nil),
		Self: func() Self { return Self{NodeName: "node-a", NodeID: st.NodeID(), Datacenter: "dc1"} },
		Log:  slog.New(slog.NewTextHandler(io.Discard, nil))}
	if res != nil {
		cfg.ACL = func() *acl.Resolver { return res }
	}
	a := New(cfg)
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		a.Close()
		srv.Close()
		st.Close()
	})
	return srv, st
}

func getHistory(t *testing.T, srv *httptest.Server, path, token string) ([]api.HistoryVersion, int) {
	t.Helper()
	code, body := send(t, "GET", srv.URL+historyPath+path, "X-Consul-Token", token, "")
	var out []api.HistoryVersion
	if code == 200 {
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("GET %s: %v: %q", path, err, body)
		}
	}
	return out, code
}

func rollback(t *testing.T, srv *httptest.Server, token string, req api.RollbackRequest) (api.RollbackResult, int, string) {
	t.Helper()
	b, _ := json.Marshal(req)
	code, body := send(t, "PUT", srv.URL+rollbackPath, "X-Consul-Token", token, string(b))
	var out api.RollbackResult
	if code == 200 {
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("rollback: %v: %q", err, body)
		}
	}
	return out, code, body
}

// TestHistoryAPI: 15 writes to one key list the last 10 versions, newest
// first, with stamps and origins.
func TestHistoryAPI(t *testing.T) {
	srv, st := historyServer(t, nil)
	for i := range 15 {
		if code, body := send(t, "PUT", srv.URL+"/v1/kv/app/x", "", "", fmt.Sprint("v", i)); code != 200 {
			t.Fatalf("put: %d %s", code, body)
		}
	}
	vs, code := getHistory(t, srv, "app/x", "")
	if code != 200 || len(vs) != 10 {
		t.Fatalf("history: %d, %d versions", code, len(vs))
	}
	for i, v := range vs {
		if want := fmt.Sprint("v", 14-i); string(v.Value) != want || v.Origin != st.NodeID() || !v.Held || v.Lost ||
			v.Stamp != store.Stamp(v.Version).String() || v.Key != "app/x" {
			t.Errorf("version %d = %+v, want %s by %s", i, v, want, st.NodeID())
		}
	}
	if vs, _ := getHistory(t, srv, "app/x?limit=3", ""); len(vs) != 3 || string(vs[0].Value) != "v14" {
		t.Errorf("limit 3: %+v", vs)
	}
	since := url.QueryEscape(store.Stamp(vs[2].Version).String())
	if vs, _ := getHistory(t, srv, "app/x?since="+since, ""); len(vs) != 3 {
		t.Errorf("since the third newest: %d versions", len(vs))
	}
	if vs, _ := getHistory(t, srv, "app/?prefix", ""); len(vs) != 10 {
		t.Errorf("prefix: %d versions", len(vs))
	}
	if vs, code := getHistory(t, srv, "app/none", ""); code != 200 || len(vs) != 0 {
		t.Errorf("unknown key: %d %+v", code, vs)
	}
	if vs, _ := getHistory(t, srv, "app/x?lost", ""); len(vs) != 0 {
		t.Errorf("lost: %+v", vs)
	}
}

func TestRollbackAPI(t *testing.T) {
	srv, st := historyServer(t, nil)
	good, _ := st.Put("app/n", []byte("5"), 3)
	st.Put("app/n", []byte("6"), 0)
	// One key: back to its version, as a new write.
	res, code, body := rollback(t, srv, "", api.RollbackRequest{Key: "app/n", To: fmt.Sprint(uint64(good.Version))})
	if code != 200 || !res.Applied || len(res.Changes) != 1 || res.Changes[0].Written <= uint64(good.Version) {
		t.Fatalf("rollback: %d %s %+v", code, body, res)
	}
	if e, _, _, _ := st.Get("app/n"); string(e.Value) != "5" || e.Flags != 3 {
		t.Fatalf("after rollback: %+v", e)
	}
	vs, _ := getHistory(t, srv, "app/n", "")
	if vs[0].RollbackOf != uint64(good.Version) {
		t.Fatalf("history does not show the rollback: %+v", vs[0])
	}
	// By the stamp as printed, too; a version the history lacks is 404.
	st.Put("app/n", []byte("7"), 0)
	if _, code, body := rollback(t, srv, "", api.RollbackRequest{Key: "app/n", To: good.Version.String(), Dry: true}); code != 200 {
		t.Fatalf("by stamp: %d %s", code, body)
	}
	if _, code, _ := rollback(t, srv, "", api.RollbackRequest{Key: "app/n", To: "12345"}); code != 404 {
		t.Fatalf("unknown version: %d", code)
	}
	// A value the schema now in force refuses is refused with its rule.
	st.Put("app/m", []byte("50"), 0)
	st.Put("app/m", []byte("2"), 0)
	if code, body := send(t, "PUT", srv.URL+"/v1/kv/_schema/app/m", "", "", `{"type":"int","max":10}`); code != 200 {
		t.Fatalf("schema: %d %s", code, body)
	}
	vs, _ = getHistory(t, srv, "app/m", "")
	_, code, body = rollback(t, srv, "", api.RollbackRequest{Key: "app/m", To: fmt.Sprint(vs[1].Version)})
	if code != 400 || !strings.Contains(body, "above max 10") {
		t.Fatalf("rollback breaking the schema: %d %q", code, body)
	}
	if e, _, _, _ := st.Get("app/m"); string(e.Value) != "2" {
		t.Fatalf("refused rollback wrote: %+v", e)
	}
}

func TestPrefixRollbackAPI(t *testing.T) {
	srv, st := historyServer(t, nil)
	st.Put("cfg/a", []byte("a1"), 0)
	st.Put("cfg/gone", []byte("g1"), 0)
	mark, _ := st.Put("elsewhere", nil, 0)
	st.Put("cfg/a", []byte("a2"), 0)
	st.Delete("cfg/gone", nil)
	st.Put("cfg/new", []byte("n"), 0)
	before := st.Index()
	to := mark.Version.String() // a time stands for its whole millisecond
	res, code, body := rollback(t, srv, "", api.RollbackRequest{Key: "cfg/", Prefix: true, To: to, Dry: true})
	if code != 200 || res.Applied || len(res.Changes) != 3 {
		t.Fatalf("dry: %d %s", code, body)
	}
	if st.Index() != before {
		t.Fatalf("a dry rollback wrote: index %d -> %d", before, st.Index())
	}
	res, code, body = rollback(t, srv, "", api.RollbackRequest{Key: "cfg/", Prefix: true, To: to})
	if code != 200 || !res.Applied || len(res.Changes) != 3 {
		t.Fatalf("rollback: %d %s", code, body)
	}
	for k, v := range map[string]string{"cfg/a": "a1", "cfg/gone": "g1", "cfg/new": ""} {
		e, _, _, _ := st.Get(k)
		if got := string(e.Value); e.Deleted && v != "" || !e.Deleted && got != v {
			t.Errorf("%s = %+v, want %q", k, e, v)
		}
	}
}

// TestHistoryAttack: a local client without a token, or with one that
// may not read or write the keys, reads no history of them and rolls
// nothing back; malformed and oversized bodies get 400 and change
// nothing.
func TestHistoryAttack(t *testing.T) {
	res, err := acl.NewResolver(acl.Config{
		Anonymous: acl.Compile(acl.Rules{KeyPrefix: map[string]acl.Access{"public/": acl.Read}}),
		Tokens: []acl.Token{
			{Secret: readToken, Description: "reader", Policy: acl.Compile(acl.Rules{KeyPrefix: map[string]acl.Access{"": acl.Read}})},
			{Secret: appToken, Description: "app", Policy: acl.Compile(acl.Rules{
				KeyPrefix: map[string]acl.Access{"app/": acl.Write},
				Key:       map[string]acl.Access{"app/secret": acl.Deny},
			})},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, st := historyServer(t, res)
	var first = map[string]store.Entry{}
	for _, k := range []string{"app/a", "app/secret", "public/p", "other/o"} {
		e, _ := st.Put(k, []byte("old"), 0)
		first[k] = e
		st.Put(k, []byte("new"), 0)
	}
	for _, c := range []struct {
		token, path string
		want        int
	}{
		{"", "app/a", 403},
		{"", "other/o", 403},
		{"", "public/p", 200},
		{appToken, "app/secret", 403},
		{appToken, "other/o", 403},
		{appToken, "app/a", 200},
		{readToken, "app/secret", 200},
		{"no-such-token", "app/a", 403},
	} {
		if vs, code := getHistory(t, srv, c.path, c.token); code != c.want || c.want == 200 && len(vs) != 2 {
			t.Errorf("history of %s with %q: %d (%d versions), want %d", c.path, c.token, code, len(vs), c.want)
		}
	}
	// Listings are filtered to what the token may read.
	for _, c := range []struct {
		token string
		keys  string
	}{{"", "public/p"}, {appToken, "app/a"}, {readToken, "app/a app/secret other/o public/p"}} {
		vs, code := getHistory(t, srv, "?prefix", c.token)
		seen := map[string]bool{}
		for _, v := range vs {
			seen[v.Key] = true
		}
		var keys []string
		for _, k := range []string{"app/a", "app/secret", "other/o", "public/p"} {
			if seen[k] {
				keys = append(keys, k)
			}
		}
		if code != 200 || strings.Join(keys, " ") != c.keys {
			t.Errorf("prefix listing with %q: %d %v, want %s", c.token, code, keys, c.keys)
		}
	}
	// Rollbacks need key write.
	for _, c := range []struct {
		token string
		req   api.RollbackRequest
		want  int
	}{
		{"", api.RollbackRequest{Key: "app/a", To: fmt.Sprint(uint64(first["app/a"].Version))}, 403},
		{"", api.RollbackRequest{Key: "public/p", To: fmt.Sprint(uint64(first["public/p"].Version))}, 403},
		{readToken, api.RollbackRequest{Key: "app/a", To: fmt.Sprint(uint64(first["app/a"].Version))}, 403},
		{readToken, api.RollbackRequest{Key: "app/a", To: fmt.Sprint(uint64(first["app/a"].Version)), Dry: true}, 403},
		{appToken, api.RollbackRequest{Key: "app/secret", To: fmt.Sprint(uint64(first["app/secret"].Version))}, 403},
		{appToken, api.RollbackRequest{Key: "app/", Prefix: true, To: "1h"}, 403}, // app/secret lies under it
		{appToken, api.RollbackRequest{Key: "", Prefix: true, To: "1h"}, 403},
		{"no-such-token", api.RollbackRequest{Key: "app/a", To: "1"}, 403},
	} {
		if _, code, body := rollback(t, srv, c.token, c.req); code != c.want {
			t.Errorf("rollback %+v with %q: %d %q, want %d", c.req, c.token, code, body, c.want)
		}
	}
	// Garbage and oversized bodies.
	for _, body := range []string{
		"", "{", "[]", "null x", `{"Key":"app/a","To":"1"} {}`, `{"Key":"app/a","To":"1","Evil":true}`,
		`{"Key":"app/a"}`, `{"Key":"","To":"1"}`, `{"Key":"app/a","To":"yesterday"}`, `{"Key":"app/a","To":"-5"}`,
		`{"Key":"app/a","To":"99999999999999999999999"}`,
		`{"Key":"app/a","To":"1","Prefix":"yes"}`,
		`{"Key":"app/a","To":"1","Origin":"` + strings.Repeat("o", 300) + `"}`,
		`{"Key":"` + strings.Repeat("k", 5000) + `","To":"1"}`,
		`{"Key":"app/a","To":"1","Value":"` + strings.Repeat("A", MaxRollbackBody) + `"}`,
	} {
		if code, resp := send(t, "PUT", srv.URL+rollbackPath, "X-Consul-Token", appToken, body); code != 400 {
			t.Errorf("body %.60q: %d %q, want 400", body, code, resp)
		}
	}
	if code, _ := send(t, "GET", srv.URL+rollbackPath, "X-Consul-Token", appToken, ""); code != 405 {
		t.Errorf("GET rollback: %d, want 405", code)
	}
	for _, q := range []string{"app/a?limit=0", "app/a?limit=x", "app/a?since=garbage", "app/a?bogus=1", "", "app/a?limit=1000001"} {
		if _, code := getHistory(t, srv, q, readToken); code != 400 {
			t.Errorf("history %q: %d, want 400", q, code)
		}
	}
	for k := range first {
		if e, _, _, _ := st.Get(k); string(e.Value) != "new" {
			t.Errorf("%s changed: %+v", k, e)
		}
	}
}

func FuzzParseHistoryRequest(f *testing.F) {
	for _, s := range []string{
		historyPath + "app/x", historyPath + "app/?prefix&lost&since=1h&limit=5", historyPath + "?since=2026-06-01T10:00:00.000Z%2B3",
		historyPath + "a?since=2026-06-01T10:00:00Z", historyPath + "%ff", "/v1/kv/x", historyPath + "a?since=99999999999999999999",
	} {
		f.Add(s)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.ParseRequestURI(s)
		if err != nil {
			return
		}
		q, err := parseHistoryRequest(u, now)
		if err != nil {
			return
		}
		if q.Key == "" && !q.Prefix || q.Limit < 1 || q.Limit > MaxHistoryLimit {
			t.Fatalf("accepted %q as %+v", s, q)
		}
	})
}

func FuzzDecodeRollbackRequest(f *testing.F) {
	for _, s := range []string{
		`{"Key":"app/a","To":"1"}`, `{"Key":"app/","Prefix":true,"To":"2026-06-01T10:00:00Z","Dry":true}`,
		`{"Key":"a","To":"2026-06-01T10:00:00.000Z+2","Origin":"x"}`, `{`, `null`, `{"Key":"a","To":"1"}{}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeRollbackRequest(b)
		if err != nil {
			return
		}
		if req.To == "" || !req.Prefix && store.CheckKey(req.Key) != nil {
			t.Fatalf("accepted %q as %+v", b, req)
		}
		if v, err := parseStampArg(req.To, now, req.Prefix); err == nil && v == 0 {
			t.Fatalf("%q parsed as stamp 0", req.To)
		}
	})
}
