package httpapi

import (
	"net/http"
	"strings"
	"testing"

	consul "github.com/hashicorp/consul/api"
)

// TestKeysMustBeUTF8: a key that is not valid UTF-8 is refused with a 400
// naming the rule, whatever the method, and nothing is written; the Consul
// client gets that error too.
func TestKeysMustBeUTF8(t *testing.T) {
	srv, st := testServer(t)
	for _, r := range []struct{ method, path string }{
		{"PUT", "/v1/kv/poison/%FF%FE"},
		{"PUT", "/v1/kv/poison/%FF%FE?cas=0"},
		{"PUT", "/v1/kv/%C3"}, // cut in a character
		{"GET", "/v1/kv/poison/%FF%FE"},
		{"GET", "/v1/kv/poison/%FF?recurse"},
		{"GET", "/v1/kv/poison/%FF?keys"},
		{"DELETE", "/v1/kv/poison/%FF%FE"},
		{"DELETE", "/v1/kv/poison/%FF?recurse"},
	} {
		resp, body := do(t, r.method, srv.URL+r.path, "value")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "keys must be valid UTF-8") || !strings.Contains(body, `\xff`) && !strings.Contains(body, `\xc3`) {
			t.Errorf("%s %s = %d %q: want 400 naming the rule and the key, escaped", r.method, r.path, resp.StatusCode, body)
		}
	}
	if resp, body := do(t, "PUT", srv.URL+"/v1/kv/config/%D0%BA%D0%BB%D1%8E%D1%87", "v"); resp.StatusCode != 200 || body != "true" {
		t.Fatalf("a UTF-8 key: %d %q", resp.StatusCode, body)
	}
	_, err := consulClient(t, srv).KV().Put(&consul.KVPair{Key: "poison/\xff\xfe", Value: []byte("v")}, nil)
	if err == nil || !strings.Contains(err.Error(), "keys must be valid UTF-8") {
		t.Fatalf("Consul client Put: %v", err)
	}
	if keys, _, _ := st.Keys("", ""); len(keys) != 1 || keys[0] != "config/ключ" {
		t.Fatalf("store keys %q", keys)
	}
}
