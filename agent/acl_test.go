package agent

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/config"
)

// call sends a request to the agent's API with token ("" for none) and
// returns the status and body.
func (ta *testAgent) call(t *testing.T, method, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, ta.url(path), strings.NewReader("v"))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Consul-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestACLAgent runs an agent whose API requires tokens, default deny: it
// becomes ready (its health probe holds its own token), refuses what
// comes without a token, and takes new tokens and rewritten secret files
// on reload.
func TestACLAgent(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "ops.token")
	if err := os.WriteFile(secret, []byte("ops-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	acl := config.ACLConfig{Enabled: true, DefaultPolicy: "deny", Tokens: []config.ACLToken{{
		Description: "operator", SecretFile: secret,
		Rules: config.ACLRules{Agent: "write", KeyPrefix: map[string]string{"": "write"}},
	}}}
	ta := newTestAgentWith(t, func(c *config.Config) { c.ACL = acl })
	change := ta.runReloadable(t)

	const ops = "ops-secret-0123456789"
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/agent/self", "", 403},
		{"GET", "/v1/agent/self", ops, 200},
		{"GET", "/v1/status/leader", "", 200},
		{"PUT", "/v1/kv/app/a", "", 403},
		{"PUT", "/v1/kv/app/a", ops, 200},
		{"GET", "/v1/kv/app/a", "", 403},
		{"PUT", "/v1/agent/leave", "", 403},
		{"PUT", "/v1/agent/reload", "", 403},
		{"GET", "/v1/edgeplane/snapshot", "", 403},
		{"GET", "/metrics", "", 403},
		{"GET", "/metrics", ops, 200},
		{"GET", "/v1/agent/metrics", "", 403},
		{"GET", "/v1/agent/metrics?format=prometheus", ops, 200},
	} {
		if code, body := ta.call(t, c.method, c.path, c.token); code != c.want {
			t.Fatalf("%s %s with %q = %d %q, want %d", c.method, c.path, c.token, code, body, c.want)
		}
	}
	if err := ta.CheckHealth(t.Context()); err != nil {
		t.Fatalf("the agent is not healthy after the refused leave: %v", err)
	}

	// A secret file rewritten in place takes effect on reload.
	if err := os.WriteFile(secret, []byte("ops-secret-rotated-0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := ta.Reload(); err != nil || len(res.Applied)+len(res.RestartRequired) != 0 {
		t.Fatalf("Reload = %+v, %v", res, err)
	}
	if code, body := ta.call(t, "GET", "/v1/agent/self", ops); code != 403 || !strings.Contains(body, "ACL not found") {
		t.Fatalf("the old secret after reload: %d %q", code, body)
	}
	if code, _ := ta.call(t, "GET", "/v1/agent/self", "ops-secret-rotated-0123"); code != 200 {
		t.Fatalf("the new secret after reload: %d", code)
	}

	// New policies apply on reload, through the API too.
	change(func(c *config.Config) {
		c.ACL.Policies = []config.ACLPolicy{{Name: "public", Rules: config.ACLRules{KeyPrefix: map[string]string{"app/": "read"}}}}
		c.ACL.AnonymousPolicies = []string{"public"}
	})
	code, body := ta.call(t, "PUT", "/v1/agent/reload", "ops-secret-rotated-0123")
	if code != 200 || !strings.Contains(body, `"acl.anonymous_policies","acl.policies"`) {
		t.Fatalf("reload through the API = %d %q", code, body)
	}
	if code, body := ta.call(t, "GET", "/v1/kv/app/a", ""); code != 200 {
		t.Fatalf("anonymous read after the reload: %d %q", code, body)
	}

	// Turning ACLs off on reload opens the API again.
	change(func(c *config.Config) { c.ACL.Enabled = false })
	res, err := ta.Reload()
	if err != nil || !slices.Equal(res.Applied, []string{"acl.enabled"}) {
		t.Fatalf("Reload = %+v, %v", res, err)
	}
	if code, _ := ta.call(t, "GET", "/v1/agent/self", ""); code != 200 {
		t.Fatalf("self with ACLs off: %d", code)
	}
	if strings.Contains(ta.logs.String(), "ops-secret") {
		t.Fatalf("a secret reached the log:\n%s", ta.logs)
	}
}

// TestACLAgentRefusesUnreadableSecret: an agent whose token file cannot
// be read does not start.
func TestACLAgentRefusesUnreadableSecret(t *testing.T) {
	cfg := config.DevDefault()
	cfg.NodeName, cfg.DataDir, cfg.HTTPAddr = "node-1", t.TempDir(), "127.0.0.1:0"
	cfg.GossipPort, cfg.RPCPort = 0, 0
	cfg.ACL = config.ACLConfig{Enabled: true, DefaultPolicy: "deny", Tokens: []config.ACLToken{{SecretFile: filepath.Join(t.TempDir(), "missing")}}}
	if a, err := New(cfg, discardLog()); err == nil || !strings.Contains(err.Error(), "tokens[0]") {
		if a != nil {
			a.close()
		}
		t.Fatalf("New with a missing secret file = %v", err)
	}
}
