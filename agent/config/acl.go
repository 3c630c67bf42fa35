package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/edgeplane/edgeplane/agent/acl"
)

// ACLConfig is the acl section: tokens for the local HTTP API. Its
// options are acl.enabled and acl.default_policy (also flags and
// environment variables), acl.anonymous_policies (a list), and the block
// lists acl.policies and acl.tokens (files only). Package acl says what
// the rules mean.
type ACLConfig struct {
	// Enabled makes the local HTTP API check tokens. Key acl.enabled,
	// flag -acl-enabled. Default false: every local process may do
	// everything.
	Enabled bool

	// DefaultPolicy is what a request gets on a key, service or agent
	// read that no rule of its token covers: allow or deny. Agent write
	// is never granted by default. Key acl.default_policy, flag
	// -acl-default-policy. Default "deny".
	DefaultPolicy string

	// AnonymousPolicies names the policies of requests that carry no
	// token. Key acl.anonymous_policies, flag -acl-anonymous-policy
	// (repeatable). Default none: the default policy decides.
	AnonymousPolicies []string

	// Policies are named sets of rules that tokens and the anonymous
	// token refer to. Key acl.policies, a block list.
	Policies []ACLPolicy

	// Tokens are the secrets clients present, each with its rules. Key
	// acl.tokens, a block list.
	Tokens []ACLToken
}

// ACLRules grant access to the local API's resources; every value is
// read, write or deny.
type ACLRules struct {
	// Key maps exact keys to their access.
	Key map[string]string `yaml:"key"`
	// KeyPrefix maps key prefixes to their access; the longest prefix of
	// a key wins, and "" covers every key.
	KeyPrefix map[string]string `yaml:"key_prefix"`
	// Service maps exact service names to their access.
	Service map[string]string `yaml:"service"`
	// ServicePrefix maps service name prefixes to their access.
	ServicePrefix map[string]string `yaml:"service_prefix"`
	// Agent is the access to the agent: read (self, members, replication,
	// ping) or write (leave, join, reload, keyring, snapshots,
	// force-leave). Empty: no rule.
	Agent string `yaml:"agent"`
}

// ACLPolicy is one block of acl.policies.
type ACLPolicy struct {
	Name        string   `yaml:"name"` // required, unique
	Description string   `yaml:"description"`
	Rules       ACLRules `yaml:"rules"`
}

// ACLToken is one block of acl.tokens. Exactly one of Secret and
// SecretFile is set; ReadSecret returns the secret either way.
type ACLToken struct {
	// Description names the token in logs and errors, which never show
	// its secret.
	Description string `yaml:"description"`
	// Secret is the token itself: 16 to 256 printable ASCII characters
	// without spaces. A file of mode 0600 is safer: see SecretFile.
	Secret string `yaml:"secret"`
	// SecretFile names a file whose content (surrounding white space
	// trimmed) is the secret. Others must have no access to it (mode
	// 0600 or 0640).
	SecretFile string `yaml:"secret_file"`
	// Policies names policies of acl.policies the token holds.
	Policies []string `yaml:"policies"`
	// Rules are the token's own rules, merged with its policies'.
	Rules ACLRules `yaml:"rules"`
}

// Bounds on token secrets.
const (
	minSecretLen = 16
	maxSecretLen = 256
)

// Validate checks that every access is read, write or deny.
func (r *ACLRules) Validate() error {
	var errs []error
	for _, m := range []struct {
		field string
		rules map[string]string
	}{{"key", r.Key}, {"key_prefix", r.KeyPrefix}, {"service", r.Service}, {"service_prefix", r.ServicePrefix}} {
		for _, name := range slices.Sorted(maps.Keys(m.rules)) {
			if _, err := acl.ParseAccess(m.rules[name]); err != nil {
				errs = append(errs, &FieldError{Field: mapPath(m.field, name), Err: invalidf("%v", err)})
			}
		}
	}
	if r.Agent != "" {
		if _, err := acl.ParseAccess(r.Agent); err != nil {
			errs = append(errs, &FieldError{Field: "agent", Err: invalidf("%v", err)})
		}
	}
	return errors.Join(errs...)
}

// Validate checks the policy's name; its rules validate themselves.
func (p *ACLPolicy) Validate() error {
	if p.Name == "" {
		return &FieldError{Field: "name", Err: invalidf("must be set: tokens refer to a policy by name")}
	}
	if err := checkName(p.Name); err != nil {
		return &FieldError{Field: "name", Err: err}
	}
	return nil
}

// Validate checks that the token has one secret, reading its file.
func (t *ACLToken) Validate() error {
	switch {
	case t.Secret == "" && t.SecretFile == "":
		return &FieldError{Field: "secret_file", Err: invalidf("set secret_file (or secret): a token needs its secret")}
	case t.Secret != "" && t.SecretFile != "":
		return &FieldError{Field: "secret_file", Err: invalidf("set either secret or secret_file, not both")}
	case t.Secret != "":
		if err := checkSecret(t.Secret); err != nil {
			return &FieldError{Field: "secret", Err: err}
		}
		return nil
	}
	if _, err := readSecretFile(t.SecretFile); err != nil {
		return &FieldError{Field: "secret_file", Err: err}
	}
	return nil
}

// ReadSecret returns the token's secret: Secret, or the content of
// SecretFile, read now.
func (t ACLToken) ReadSecret() (string, error) {
	if t.SecretFile == "" {
		return t.Secret, nil
	}
	return readSecretFile(t.SecretFile)
}

// checkSecret checks a secret's length and characters without ever
// repeating it.
func checkSecret(s string) error {
	if len(s) < minSecretLen || len(s) > maxSecretLen {
		return invalidf("the secret is %d characters; use %d to %d (edgeplane keygen prints a good one)", len(s), minSecretLen, maxSecretLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return invalidf("the secret holds a space, a control or a non-ASCII character at byte %d; use printable ASCII", i)
		}
	}
	return nil
}

// readSecretFile reads a token's secret file, refusing one that other
// users may open.
func readSecretFile(path string) (string, error) {
	s, err := readSmallFile(path, "a token secret file", maxKeyFile, func(info os.FileInfo) error {
		if !info.Mode().IsRegular() {
			return invalidf("%s is not a regular file", path)
		}
		if perm := info.Mode().Perm(); perm&0o007 != 0 {
			return invalidf("%s is open to every user (mode %04o): chmod 600 it", path, perm)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if err := checkSecret(s); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func checkDefaultPolicy(s string) error {
	if s != "allow" && s != "deny" {
		return invalidf("%q is not allow or deny", clip(s))
	}
	return nil
}

// checkACLPolicies refuses two policies of one name.
func checkACLPolicies(ps []ACLPolicy) error {
	var errs []error
	first := make(map[string]int, len(ps))
	for i, p := range ps {
		if j, dup := first[p.Name]; dup && p.Name != "" {
			errs = append(errs, &FieldError{Field: fmt.Sprintf("[%d].name", i), Err: invalidf("policy %q is also acl.policies[%d]", clip(p.Name), j)})
			continue
		}
		first[p.Name] = i
	}
	return errors.Join(errs...)
}

// checkACLTokens refuses two tokens with one secret, naming the other
// token, never the secret. Unreadable secrets are reported by the tokens'
// own Validate.
func checkACLTokens(ts []ACLToken) error {
	var errs []error
	first := make(map[string]int, len(ts))
	for i, t := range ts {
		s, err := t.ReadSecret()
		if err != nil || s == "" {
			continue
		}
		field := "secret"
		if t.SecretFile != "" {
			field = "secret_file"
		}
		if j, dup := first[s]; dup {
			errs = append(errs, &FieldError{Field: fmt.Sprintf("[%d].%s", i, field), Err: invalidf("the same secret as acl.tokens[%d]: every token needs its own", j)})
			continue
		}
		first[s] = i
	}
	return errors.Join(errs...)
}

// validateACL checks what spans the acl options: every policy a token or
// the anonymous token names exists.
func validateACL(c *Config, from origins) []error {
	names := make(map[string]bool, len(c.ACL.Policies))
	for _, p := range c.ACL.Policies {
		names[p.Name] = true
	}
	var errs []error
	check := func(path, name string) {
		if !names[name] {
			errs = append(errs, &Error{Source: from.source(path), Key: path,
				Err: invalidf("no policy %q in acl.policies", clip(name))})
		}
	}
	for i, name := range c.ACL.AnonymousPolicies {
		check(fmt.Sprintf("acl.anonymous_policies[%d]", i), name)
	}
	for i, t := range c.ACL.Tokens {
		for j, name := range t.Policies {
			check(fmt.Sprintf("acl.tokens[%d].policies[%d]", i, j), name)
		}
	}
	return errs
}
