package agent

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/config"
)

// localACL holds the token resolver of the local HTTP API, built from the
// acl section at start and rebuilt on reload; the API reads it for each
// request. It also holds the token of the agent's own health probe, which
// may read the agent and nothing else, and never leaves the process.
type localACL struct {
	probeToken string
	cur        atomic.Pointer[acl.Resolver] // nil: ACLs off
	log        *slog.Logger
}

// newLocalACL builds the resolver of cfg, reading every secret file.
func newLocalACL(cfg config.ACLConfig, log *slog.Logger) (*localACL, error) {
	l := &localACL{probeToken: rand.Text() + rand.Text(), log: log}
	if err := l.apply(cfg); err != nil {
		return nil, err
	}
	if cfg.Enabled {
		log.Info("http api requires tokens", "default_policy", cfg.DefaultPolicy, "tokens", len(cfg.Tokens),
			"anonymous_policies", cfg.AnonymousPolicies)
	}
	return l, nil
}

// resolver is the resolver in effect: httpapi.Config.ACL.
func (l *localACL) resolver() *acl.Resolver { return l.cur.Load() }

// apply replaces the resolver with cfg's, re-reading every secret file.
// On error the resolver in effect stays.
func (l *localACL) apply(cfg config.ACLConfig) error {
	if !cfg.Enabled {
		l.cur.Store(nil)
		return nil
	}
	res, err := newResolver(cfg, l.probeToken)
	if err != nil {
		return fmt.Errorf("agent: http api tokens: %w", err)
	}
	l.cur.Store(res)
	return nil
}

// newResolver compiles the acl section, plus the health probe's token.
func newResolver(cfg config.ACLConfig, probeToken string) (*acl.Resolver, error) {
	policies := make(map[string]acl.Rules, len(cfg.Policies))
	for _, p := range cfg.Policies {
		r, err := aclRules(p.Rules)
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", p.Name, err)
		}
		policies[p.Name] = r
	}
	named := func(names []string) ([]acl.Rules, error) {
		var rs []acl.Rules
		for _, n := range names {
			r, ok := policies[n]
			if !ok {
				return nil, fmt.Errorf("no policy %q", n)
			}
			rs = append(rs, r)
		}
		return rs, nil
	}
	anon, err := named(cfg.AnonymousPolicies)
	if err != nil {
		return nil, fmt.Errorf("anonymous_policies: %w", err)
	}
	rc := acl.Config{DefaultAllow: cfg.DefaultPolicy == "allow", Anonymous: acl.Compile(anon...)}
	for i, t := range cfg.Tokens {
		secret, err := t.ReadSecret()
		if err != nil {
			return nil, fmt.Errorf("tokens[%d]: %w", i, err)
		}
		rs, err := named(t.Policies)
		if err != nil {
			return nil, fmt.Errorf("tokens[%d]: %w", i, err)
		}
		own, err := aclRules(t.Rules)
		if err != nil {
			return nil, fmt.Errorf("tokens[%d]: %w", i, err)
		}
		rc.Tokens = append(rc.Tokens, acl.Token{Secret: secret, Description: t.Description, Policy: acl.Compile(append(rs, own)...)})
	}
	rc.Tokens = append(rc.Tokens, acl.Token{
		Secret: probeToken, Description: "edgeplane health probe", Policy: acl.Compile(acl.Rules{Agent: acl.Read}),
	})
	return acl.NewResolver(rc)
}

// aclRules parses the access strings of r.
func aclRules(r config.ACLRules) (acl.Rules, error) {
	var out acl.Rules
	var err error
	for _, m := range []struct {
		in  map[string]string
		out *map[string]acl.Access
	}{{r.Key, &out.Key}, {r.KeyPrefix, &out.KeyPrefix}, {r.Service, &out.Service}, {r.ServicePrefix, &out.ServicePrefix}} {
		if len(m.in) == 0 {
			continue
		}
		*m.out = make(map[string]acl.Access, len(m.in))
		for name, s := range m.in {
			if (*m.out)[name], err = acl.ParseAccess(s); err != nil {
				return acl.Rules{}, err
			}
		}
	}
	if r.Agent != "" {
		if out.Agent, err = acl.ParseAccess(r.Agent); err != nil {
			return acl.Rules{}, err
		}
	}
	return out, nil
}

// applyACL is the live option of every acl key: the whole section is
// applied at once, its secret files re-read.
func applyACL(s *supervisor, running *config.Config, next config.Config) bool {
	if s.acl == nil {
		return false
	}
	if err := s.acl.apply(next.ACL); err != nil {
		s.log.Error("new http api tokens not applied; the running ones stay", "err", err)
		return false
	}
	running.ACL = next.ACL
	return true
}

// rereadACLSecrets applies the running acl section again when a reload
// changed none of its options, so that a secret file rewritten in place
// takes effect on reload too.
func (s *supervisor) rereadACLSecrets(running config.Config, res ReloadResult) {
	if s.acl == nil || !running.ACL.Enabled {
		return
	}
	for _, keys := range [][]string{res.Applied, res.RestartRequired} {
		for _, k := range keys {
			if strings.HasPrefix(k, "acl.") {
				return
			}
		}
	}
	if err := s.acl.apply(running.ACL); err != nil {
		s.log.Error("re-reading http api token secrets failed; the tokens in effect stay", "err", err)
	}
}
