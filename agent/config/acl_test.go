package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// secretFile writes a token secret to dir/name with mode perm.
func secretFile(t *testing.T, dir, name, secret string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(secret+"\n"), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

func TestACLFromFiles(t *testing.T) {
	dir := t.TempDir()
	opsFile := secretFile(t, dir, "ops.token", "ops-secret-0123456789", 0o600)
	writeFile(t, dir, "conf.d/10-acl.yaml", `
acl:
  enabled: true
  anonymous_policies: [public]
  policies:
    - name: public
      rules:
        key_prefix: {"public/": read}
  tokens:
    - description: operator
      secret_file: `+opsFile+`
      rules:
        agent: write
        key_prefix: {"": write}
`)
	writeFile(t, dir, "conf.d/20-app.yaml", `
acl:
  tokens:
    - description: app
      secret: app-secret-0123456789
      policies: [public]
      rules:
        key: {"app/lock": write}
        key_prefix: {"app/": read}
        service_prefix: {web: write}
        service: {db: deny}
`)
	c := mustLoad(t, []string{"-config-dir", filepath.Join(dir, "conf.d")}, nil)
	a := c.ACL
	if !a.Enabled || a.DefaultPolicy != "deny" || !slices.Equal(a.AnonymousPolicies, []string{"public"}) || len(a.Policies) != 1 {
		t.Fatalf("acl = %+v", a)
	}
	if len(a.Tokens) != 2 || a.Tokens[0].Description != "operator" || a.Tokens[1].Description != "app" {
		t.Fatalf("tokens of both files, in order: %+v", a.Tokens)
	}
	if s, err := a.Tokens[0].ReadSecret(); err != nil || s != "ops-secret-0123456789" {
		t.Fatalf("secret_file: %q, %v", s, err)
	}
	if s, err := a.Tokens[1].ReadSecret(); err != nil || s != "app-secret-0123456789" {
		t.Fatalf("secret: %q, %v", s, err)
	}
	r := a.Tokens[1].Rules
	if r.Key["app/lock"] != "write" || r.KeyPrefix["app/"] != "read" || r.ServicePrefix["web"] != "write" || r.Service["db"] != "deny" {
		t.Fatalf("rules = %+v", r)
	}
}

func TestACLDefaults(t *testing.T) {
	c := mustLoad(t, nil, nil)
	if c.ACL.Enabled || c.ACL.DefaultPolicy != "deny" {
		t.Fatalf("default acl = %+v, want disabled with default_policy deny", c.ACL)
	}
}

// TestACLErrors checks that each mistake is reported at its file, line and
// path, and that no error ever shows a secret.
func TestACLErrors(t *testing.T) {
	dir := t.TempDir()
	open := secretFile(t, dir, "open.token", "open-secret-0123456789", 0o644)
	empty := secretFile(t, dir, "empty.token", "", 0o600)
	dupFile := secretFile(t, dir, "dup.token", "dup-secret-0123456789", 0o600)
	tests := []struct {
		name, yaml string
		key, where string // the error's key, and a part of its source
		want       string // a part of its message
	}{
		{"unknown field", `
acl:
  tokens:
    - secrt: abc-secret-0123456789
`, "acl.tokens[0].secrt", ":4:7", `did you mean "secret"?`},
		{"bad access", `
acl:
  tokens:
    - secret: abc-secret-0123456789
      rules:
        key_prefix:
          "app/": reed
`, "acl.tokens[0].rules.key_prefix['app/']", ":7:19", `"reed" is not read, write or deny`},
		{"bad agent access", `
acl:
  policies:
    - name: p
      rules: {agent: admin}
`, "acl.policies[0].rules.agent", ":5:22", `"admin" is not read, write or deny`},
		{"no secret", `
acl:
  tokens:
    - description: forgot
`, "acl.tokens[0].secret_file", ":4:7", "a token needs its secret"},
		{"both secrets", `
acl:
  tokens:
    - secret: abc-secret-0123456789
      secret_file: ` + dupFile + `
`, "acl.tokens[0].secret_file", ":5:20", "not both"},
		{"short secret", `
acl:
  tokens:
    - secret: hunter2
`, "acl.tokens[0].secret", ":4:15", "the secret is 7 characters"},
		{"secret with a space", `
acl:
  tokens:
    - secret: "abc secret 0123456789"
`, "acl.tokens[0].secret", ":4:15", "holds a space"},
		{"secret file open to all", `
acl:
  tokens:
    - secret_file: ` + open + `
`, "acl.tokens[0].secret_file", ":4:20", "open to every user (mode 0644)"},
		{"empty secret file", `
acl:
  tokens:
    - secret_file: ` + empty + `
`, "acl.tokens[0].secret_file", ":4:20", "is empty"},
		{"missing secret file", `
acl:
  tokens:
    - secret_file: ` + filepath.Join(dir, "none") + `
`, "acl.tokens[0].secret_file", ":4:20", "no such file"},
		{"same secret twice", `
acl:
  tokens:
    - secret: dup-secret-0123456789
    - secret_file: ` + dupFile + `
`, "acl.tokens[1].secret_file", ":5:20", "the same secret as acl.tokens[0]"},
		{"unknown policy", `
acl:
  tokens:
    - secret: abc-secret-0123456789
      policies: [reader, writer]
  policies:
    - name: reader
`, "acl.tokens[0].policies[1]", ":5:26", `no policy "writer"`},
		{"unknown anonymous policy", `
acl:
  anonymous_policies: [nobody]
`, "acl.anonymous_policies[0]", ":3:23", `no policy "nobody"`},
		{"policy without a name", `
acl:
  policies:
    - rules: {agent: read}
`, "acl.policies[0].name", ":4:7", "must be set"},
		{"policy named twice", `
acl:
  policies:
    - name: p
    - name: p
`, "acl.policies[1].name", ":5:13", "also acl.policies[0]"},
		{"bad default policy", `
acl:
  default_policy: permit
`, "acl.default_policy", ":3:19", `"permit" is not allow or deny`},
		{"tokens not a list", `
acl:
  tokens: {secret: abc-secret-0123456789}
`, "acl.tokens", ":3:11", "expected a list of blocks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, t.TempDir(), "acl.yaml", tt.yaml)
			_, err := load(t, []string{"-config-file", file}, nil)
			if err == nil {
				t.Fatal("loaded")
			}
			e := asError(err, tt.key)
			if e == nil {
				t.Fatalf("no error at key %q in:\n%v", tt.key, err)
			}
			if !strings.HasPrefix(e.Source, file) || !strings.HasSuffix(e.Source, tt.where) || !strings.Contains(e.Error(), tt.want) {
				t.Fatalf("error %q; want source %s%s and %q", e, file, tt.where, tt.want)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrType) {
				t.Fatalf("error %v matches no sentinel", err)
			}
			for _, secret := range []string{"abc-secret", "hunter2", "open-secret", "dup-secret"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error shows a secret: %v", err)
				}
			}
		})
	}
}

func TestACLFromEnvAndFlags(t *testing.T) {
	file := writeFile(t, t.TempDir(), "p.yaml", "acl: {policies: [{name: pub}, {name: ops}]}\n")
	c := mustLoad(t, []string{"-config-file", file},
		map[string]string{"EDGEPLANE_ACL_ENABLED": "true", "EDGEPLANE_ACL_ANONYMOUS_POLICIES": "pub,ops"})
	if !c.ACL.Enabled || !slices.Equal(c.ACL.AnonymousPolicies, []string{"pub", "ops"}) {
		t.Fatalf("from env: %+v", c.ACL)
	}
	c = mustLoad(t, []string{"-config-file", file, "-acl-enabled", "-acl-default-policy", "allow", "-acl-anonymous-policy", "pub"}, nil)
	if !c.ACL.Enabled || c.ACL.DefaultPolicy != "allow" || !slices.Equal(c.ACL.AnonymousPolicies, []string{"pub"}) {
		t.Fatalf("from flags: %+v", c.ACL)
	}
	_, err := load(t, []string{"-acl-default-policy", "open"}, nil)
	if e := asError(err, "acl.default_policy"); e == nil || e.Source != "flag -acl-default-policy" {
		t.Fatalf("bad flag: %v", err)
	}
}

func TestACLChangedOnReload(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.yaml", "acl: {tokens: [{secret: one-secret-0123456789}]}\n")
	b := writeFile(t, dir, "b.yaml", "acl: {tokens: [{secret: two-secret-0123456789}]}\n")
	ca, cb := mustLoad(t, []string{"-config-file", a}, nil), mustLoad(t, []string{"-config-file", b}, nil)
	if got := Changed(ca, cb); !slices.Equal(got, []string{"acl.tokens"}) {
		t.Fatalf("Changed = %q", got)
	}
}
