package acl

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

// Token is one token as the configuration defines it.
type Token struct {
	// Secret is what a request presents. Required, unique.
	Secret string
	// Description is shown in logs in place of the secret.
	Description string
	// Policy is the token's rules, merged (see Compile). Nil grants
	// nothing.
	Policy *Policy
}

// Config is what a Resolver is built from.
type Config struct {
	// DefaultAllow is the default policy: allow (true) or deny (false)
	// what no rule covers. Agent write is never granted by default.
	DefaultAllow bool
	// Anonymous is the policy of requests without a token. Nil grants
	// nothing.
	Anonymous *Policy
	Tokens    []Token
}

// Resolver finds the Authorizer of a request's secret. It is immutable:
// a new configuration makes a new Resolver. A nil *Resolver means ACLs
// are disabled.
type Resolver struct {
	anonymous *Authorizer
	tokens    []resolvedToken
}

type resolvedToken struct {
	digest [sha256.Size]byte
	authz  *Authorizer
}

// NewResolver checks cfg and builds its Resolver. A token without a secret
// or two tokens with one secret are errors, which name the tokens by index
// and never show a secret.
func NewResolver(cfg Config) (*Resolver, error) {
	r := &Resolver{anonymous: &Authorizer{policy: orEmpty(cfg.Anonymous), defaultAllow: cfg.DefaultAllow, anonymous: true}}
	seen := make(map[[sha256.Size]byte]int, len(cfg.Tokens))
	var errs []error
	for i, t := range cfg.Tokens {
		if t.Secret == "" {
			errs = append(errs, fmt.Errorf("acl: token %d has no secret", i))
			continue
		}
		d := sha256.Sum256([]byte(t.Secret))
		if j, dup := seen[d]; dup {
			errs = append(errs, fmt.Errorf("acl: tokens %d and %d have the same secret", j, i))
			continue
		}
		seen[d] = i
		r.tokens = append(r.tokens, resolvedToken{digest: d, authz: &Authorizer{
			policy: orEmpty(t.Policy), defaultAllow: cfg.DefaultAllow, description: t.Description,
		}})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

func orEmpty(p *Policy) *Policy {
	if p == nil {
		return &Policy{}
	}
	return p
}

// Resolve returns the Authorizer of secret: the anonymous token's for "",
// ErrNotFound for a secret no token holds. Every token's digest is
// compared, in constant time, whichever matches. On a nil Resolver it
// returns AllowAll.
func (r *Resolver) Resolve(secret string) (*Authorizer, error) {
	if r == nil {
		return AllowAll, nil
	}
	if secret == "" {
		return r.anonymous, nil
	}
	d := sha256.Sum256([]byte(secret))
	var found *Authorizer
	for i := range r.tokens {
		if subtle.ConstantTimeCompare(d[:], r.tokens[i].digest[:]) == 1 {
			found = r.tokens[i].authz
		}
	}
	if found == nil {
		return nil, ErrNotFound
	}
	return found, nil
}
