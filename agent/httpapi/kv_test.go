package httpapi

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func do(t *testing.T, method, u, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestKVHTTP(t *testing.T) {
	srv, _ := testServer(t)
	u := srv.URL
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantBody   string // substring
	}{
		{"empty store index is 1", "GET", "/v1/kv/none", "", 404, ""},
		{"put", "PUT", "/v1/kv/a/b?flags=3", "hello", 200, "true"},
		{"put true body", "PUT", "/v1/kv/a/c", "", 200, "true"},
		{"raw", "GET", "/v1/kv/a/b?raw", "", 200, "hello"},
		{"empty value is null", "GET", "/v1/kv/a/c", "", 200, `"Value":null`},
		{"cas mismatch answers false", "PUT", "/v1/kv/a/b?cas=999", "x", 200, "false"},
		{"cas 0 on existing answers false", "PUT", "/v1/kv/a/b?cas=0", "x", 200, "false"},
		{"bad flags", "PUT", "/v1/kv/a/b?flags=-1", "x", 400, "invalid flags"},
		{"bad cas", "PUT", "/v1/kv/a/b?cas=abc", "x", 400, "invalid cas"},
		{"bad index", "GET", "/v1/kv/a/b?index=x", "", 400, "invalid index"},
		{"bad wait", "GET", "/v1/kv/a/b?index=1&wait=soon", "", 400, "invalid wait"},
		{"acquire refused", "PUT", "/v1/kv/a/b?acquire=abc", "x", 400, "sessions"},
		{"release refused", "PUT", "/v1/kv/a/b?release=abc", "x", 400, "sessions"},
		{"namespace refused", "GET", "/v1/kv/a/b?ns=team", "", 400, "namespaces"},
		{"partition refused", "GET", "/v1/kv/a/b?partition=p", "", 400, "partitions"},
		{"unknown parameter refused", "GET", "/v1/kv/a/b?frobnicate", "", 400, "unsupported query parameter"},
		{"stale, consistent, cached, dc accepted", "GET", "/v1/kv/a/b?stale&consistent&cached&dc=dc1", "", 200, `"Key":"a/b"`},
		{"missing key name", "PUT", "/v1/kv/", "x", 400, "missing key name"},
		{"delete without key", "DELETE", "/v1/kv/", "", 400, "missing key name"},
		{"keys at the root", "GET", "/v1/kv/?keys", "", 200, `["a/b","a/c"]`},
		{"keys with separator", "GET", "/v1/kv/?keys&separator=/", "", 200, `["a/"]`},
		{"method not allowed", "POST", "/v1/kv/a/b", "", 405, ""},
		{"malformed query", "GET", "/v1/kv/a?%zz", "", 400, "malformed query"},
		{"delete cas mismatch", "DELETE", "/v1/kv/a/b?cas=999", "", 200, "false"},
		{"delete", "DELETE", "/v1/kv/a/c", "", 200, "true"},
		{"delete missing is fine", "DELETE", "/v1/kv/a/zzz", "", 200, "true"},
		{"double slash key", "PUT", "/v1/kv/x//y", "v", 200, "true"},
		{"double slash read", "GET", "/v1/kv/x//y?raw", "", 200, "v"},
		{"recurse missing prefix", "GET", "/v1/kv/nothing/?recurse", "", 404, ""},
		{"unknown endpoint", "GET", "/v1/catalog/nodes", "", 404, ""},
	}
	for _, tt := range tests {
		resp, body := do(t, tt.method, u+tt.path, tt.body)
		if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
			t.Errorf("%s: %s %s = %d %q, want %d containing %q", tt.name, tt.method, tt.path, resp.StatusCode, body, tt.wantStatus, tt.wantBody)
		}
		if tt.method == "GET" && resp.StatusCode < 400 || resp.StatusCode == 404 && strings.HasPrefix(tt.path, "/v1/kv/") {
			if idx, err := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64); err != nil || idx == 0 {
				t.Errorf("%s: X-Consul-Index %q", tt.name, resp.Header.Get("X-Consul-Index"))
			}
		}
	}
}

func TestListIndexCountsDeletions(t *testing.T) {
	srv, _ := testServer(t)
	do(t, "PUT", srv.URL+"/v1/kv/p/a", "1")
	do(t, "PUT", srv.URL+"/v1/kv/p/b", "1")
	before, _ := do(t, "GET", srv.URL+"/v1/kv/p/?recurse", "")
	do(t, "DELETE", srv.URL+"/v1/kv/p/b", "")
	after, _ := do(t, "GET", srv.URL+"/v1/kv/p/?recurse", "")
	b, _ := strconv.Atoi(before.Header.Get("X-Consul-Index"))
	a, _ := strconv.Atoi(after.Header.Get("X-Consul-Index"))
	if a <= b {
		t.Fatalf("list index %d -> %d after a delete under the prefix", b, a)
	}
}

func TestBlockingQueryEndsOnClose(t *testing.T) {
	srv, _ := testServer(t)
	// Find the API behind the test server to close it.
	api := srv.Config.Handler.(*API)
	done := make(chan int)
	go func() {
		resp, _ := do(t, "GET", srv.URL+"/v1/kv/k?index=1&wait=10m", "")
		done <- resp.StatusCode
	}()
	// Whether the query starts before or after Close, it answers at once:
	// a closed API ends every blocking query.
	api.Close()
	if status := <-done; status != http.StatusNotFound {
		t.Fatalf("status %d", status)
	}
}

func TestParseWait(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10s", 10 * time.Second, true},
		{"5", 5 * time.Second, true},
		{"1h", MaxWait, true},
		{"-1s", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, err := parseWait(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseWait(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func FuzzParseKVRequest(f *testing.F) {
	for _, s := range []string{
		"/v1/kv/a?recurse", "/v1/kv/a?keys&separator=/", "/v1/kv/a?cas=0&flags=5",
		"/v1/kv/?index=10&wait=5s", "/v1/kv/x?acquire=1", "/v1/kv/%zz?%zz",
		"/v1/kv/poison/%FF%FE",
	} {
		f.Add("GET", s)
		f.Add("PUT", s)
	}
	f.Fuzz(func(t *testing.T, method, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		req, err := parseKVRequest(method, u)
		if err != nil {
			return
		}
		if req.wait <= 0 || req.wait > MaxWait {
			t.Fatalf("wait %v out of range", req.wait)
		}
		if req.key == "" && !req.recurse && !req.keys {
			t.Fatalf("accepted an empty key without recurse or keys: %q", raw)
		}
		if !utf8.ValidString(req.key) {
			t.Fatalf("accepted a key that is not valid UTF-8: %q", raw)
		}
	})
}
