package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocalAPITokens runs an agent whose API requires tokens: a local
// process without one cannot stop it, the CLI's token variables and
// flags reach it, and no secret reaches its log.
func TestLocalAPITokens(t *testing.T) {
	dir := t.TempDir()
	ops := filepath.Join(dir, "ops.token")
	if err := os.WriteFile(ops, []byte("ops-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "acl.yaml")
	if err := os.WriteFile(conf, []byte(`
acl:
  enabled: true
  anonymous_policies: [public]
  policies:
    - name: public
      rules:
        key_prefix: {"public/": read}
  tokens:
    - description: operator
      secret_file: `+ops+`
      rules: {agent: write}
    - description: app
      secret: app-secret-0123456789
      rules:
        key_prefix: {"app/": write, "public/": write}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := run(t, "", "validate", "-config-file", conf); code != 0 {
		t.Fatalf("validate = %d %s %s", code, out, errOut)
	}
	p := startAgent(t, "-dev", "-config-file", conf)
	cli := func(env []string, args ...string) (string, string, int) {
		t.Helper()
		return runEnv(t, append([]string{"EDGEPLANE_HTTP_ADDR=" + p.httpAddr}, env...), "", args...)
	}
	for _, env := range [][]string{nil, {"CONSUL_HTTP_TOKEN=app-secret-0123456789"}, {"CONSUL_HTTP_TOKEN=guess-0123456789abcdef"}} {
		if _, errOut, code := cli(env, "leave"); code == 0 || !strings.Contains(errOut, "403") {
			t.Fatalf("leave with %q = %d %s", env, code, errOut)
		}
	}
	if _, errOut, code := cli(nil, "kv", "put", "public/motd", "hi"); code == 0 || !strings.Contains(errOut, "Permission denied") {
		t.Fatalf("anonymous kv put = %d %s", code, errOut)
	}
	if _, errOut, code := cli([]string{"CONSUL_HTTP_TOKEN=app-secret-0123456789"}, "kv", "put", "public/motd", "hi"); code != 0 {
		t.Fatalf("kv put with the app token = %d %s", code, errOut)
	}
	if out, errOut, code := cli(nil, "kv", "get", "public/motd"); code != 0 || out != "hi\n" {
		t.Fatalf("anonymous kv get = %d %q %s", code, out, errOut)
	}
	if out, errOut, code := cli(nil, "leave", "-token-file", ops); code != 0 || !strings.Contains(out, "Graceful leave complete") {
		t.Fatalf("leave with the operator's token = %d %q %s", code, out, errOut)
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("agent exited %d after leave", code)
	}
	if log := p.log(); strings.Contains(log, "-secret-") {
		t.Fatalf("a secret reached the log:\n%s", log)
	}
}
