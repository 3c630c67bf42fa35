package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

// runEnv runs args against the agent at addr with the environment env.
func runEnv(t *testing.T, addr string, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb testutil.SyncBuffer
	std := testEnv(context.Background(), addr, "", &out, &errb)
	base := std.Getenv
	std.Getenv = func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return base(k)
	}
	code := Main(args, std)
	return result{code, out.String(), errb.String()}
}

// TestTokenReachesTheAgent: the token from each flag and variable reaches
// the agent; without one, the agent refuses.
func TestTokenReachesTheAgent(t *testing.T) {
	const ops, reader = "ops-secret-0123456789", "read-secret-0123456789"
	a := apitest.Start(t)
	res, err := acl.NewResolver(acl.Config{Tokens: []acl.Token{
		{Secret: ops, Policy: acl.Compile(acl.Rules{Agent: acl.Write, KeyPrefix: map[string]acl.Access{"": acl.Write}})},
		{Secret: reader, Policy: acl.Compile(acl.Rules{KeyPrefix: map[string]acl.Access{"": acl.Read}})},
	}})
	if err != nil {
		t.Fatal(err)
	}
	a.SetACL(res)
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte(ops+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	readerFile := filepath.Join(dir, "reader")
	if err := os.WriteFile(readerFile, []byte(reader), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		flags []string
		env   map[string]string
	}{
		{"-token", []string{"-token", ops}, nil},
		{"-token-file", []string{"-token-file", file}, nil},
		{"EDGEPLANE_HTTP_TOKEN", nil, map[string]string{"EDGEPLANE_HTTP_TOKEN": ops}},
		{"EDGEPLANE_HTTP_TOKEN_FILE", nil, map[string]string{"EDGEPLANE_HTTP_TOKEN_FILE": file}},
		{"CONSUL_HTTP_TOKEN", nil, map[string]string{"CONSUL_HTTP_TOKEN": ops}},
		{"CONSUL_HTTP_TOKEN_FILE", nil, map[string]string{"CONSUL_HTTP_TOKEN_FILE": file}},
		{"-token over the environment", []string{"-token", ops}, map[string]string{"EDGEPLANE_HTTP_TOKEN": reader}},
		{"-token-file over the environment", []string{"-token-file", file}, map[string]string{"CONSUL_HTTP_TOKEN": reader}},
		{"EDGEPLANE_ over CONSUL_", nil, map[string]string{"EDGEPLANE_HTTP_TOKEN": ops, "CONSUL_HTTP_TOKEN": reader}},
		{"EDGEPLANE_HTTP_TOKEN_FILE over CONSUL_HTTP_TOKEN", nil, map[string]string{"EDGEPLANE_HTTP_TOKEN_FILE": file, "CONSUL_HTTP_TOKEN": reader}},
	} {
		args := append(append([]string{"kv", "put"}, c.flags...), "app/a", c.name)
		runEnv(t, a.Addr, c.env, args...).expect(t, 0, "Success!", "")
		if e, _, _, _ := a.Store.Get("app/a"); string(e.Value) != c.name {
			t.Fatalf("%s: app/a = %q", c.name, e.Value)
		}
		runEnv(t, a.Addr, c.env, append([]string{"leave"}, c.flags...)...).expect(t, 0, "", "")
	}
	// No token, or a read token where a write is needed: refused.
	runEnv(t, a.Addr, nil, "kv", "put", "app/a", "x").expect(t, 1, "", "403 (Permission denied: anonymous token lacks permission 'key:write'")
	runEnv(t, a.Addr, nil, "leave", "-token-file", readerFile).expect(t, 1, "", "Permission denied: token lacks permission 'agent:write'")
	runEnv(t, a.Addr, map[string]string{"CONSUL_HTTP_TOKEN": "wrong-0123456789abcdef"}, "members").expect(t, 1, "", "ACL not found")
	// Bad token settings are usage errors that never reach the agent.
	runEnv(t, a.Addr, nil, "members", "-token", ops, "-token-file", file).expect(t, 1, "", "set -token or -token-file, not both")
	runEnv(t, a.Addr, map[string]string{"CONSUL_HTTP_TOKEN_FILE": filepath.Join(dir, "none")}, "members").expect(t, 1, "", "CONSUL_HTTP_TOKEN_FILE: open")
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	runEnv(t, a.Addr, nil, "members", "-token-file", empty).expect(t, 1, "", "is empty")
	// Help shows no token, even one set in the environment.
	r := runEnv(t, a.Addr, map[string]string{"CONSUL_HTTP_TOKEN": ops}, "kv", "get", "-h")
	if r.code != 0 || strings.Contains(r.stdout, ops) || !strings.Contains(r.stdout, "-token-file") {
		t.Fatalf("kv get -h = %d %q", r.code, r.stdout)
	}
}
