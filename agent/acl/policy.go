package acl

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Access is what a rule grants. Its order is the order of precedence when
// two policies of one token name the same resource: deny over write over
// read.
type Access uint8

// The access levels. None is the absence of a rule: the default policy
// decides.
const (
	None Access = iota
	Read
	Write
	Deny
)

// ParseAccess parses "read", "write" or "deny".
func ParseAccess(s string) (Access, error) {
	switch s {
	case "read":
		return Read, nil
	case "write":
		return Write, nil
	case "deny":
		return Deny, nil
	}
	return None, fmt.Errorf("%q is not read, write or deny", s)
}

// String returns the access as ParseAccess reads it; None is "none".
func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case Deny:
		return "deny"
	}
	return "none"
}

// grants reports whether a rule of access a allows want (Read or Write);
// def is the default policy, used when there is no rule.
func (a Access) grants(want Access, def bool) bool {
	switch a {
	case None:
		return def
	case Write:
		return true
	case Read:
		return want == Read
	}
	return false
}

// Rules are the grants of one policy. Maps go from a key, a key prefix, a
// service name or a service name prefix to the access granted there; the
// empty prefix covers everything.
type Rules struct {
	Key           map[string]Access
	KeyPrefix     map[string]Access
	Service       map[string]Access
	ServicePrefix map[string]Access
	Agent         Access
}

// Policy is the rules of every policy of one token, merged. Build it with
// Compile; the zero Policy grants nothing, so the default policy decides
// everything but agent write.
type Policy struct {
	key, service resourceRules
	agent        Access
}

// Compile merges rules into one Policy. Where two of them name the same
// resource, the higher Access wins: deny over write over read.
func Compile(rules ...Rules) *Policy {
	p := &Policy{}
	var keyExact, keyPrefix, svcExact, svcPrefix map[string]Access
	for _, r := range rules {
		keyExact = mergeInto(keyExact, r.Key)
		keyPrefix = mergeInto(keyPrefix, r.KeyPrefix)
		svcExact = mergeInto(svcExact, r.Service)
		svcPrefix = mergeInto(svcPrefix, r.ServicePrefix)
		p.agent = max(p.agent, r.Agent)
	}
	p.key = newResourceRules(keyExact, keyPrefix)
	p.service = newResourceRules(svcExact, svcPrefix)
	return p
}

// mergeInto adds src to dst (made when nil), keeping the higher Access of
// a name both hold. A None in src adds nothing.
func mergeInto(dst, src map[string]Access) map[string]Access {
	for name, a := range src {
		if a == None {
			continue
		}
		if dst == nil {
			dst = make(map[string]Access, len(src))
		}
		dst[name] = max(dst[name], a)
	}
	return dst
}

// resourceRules are the exact and prefix rules on one kind of resource.
type resourceRules struct {
	exact    map[string]Access
	prefixes []prefixRule // longest first
}

type prefixRule struct {
	prefix string
	access Access
}

func newResourceRules(exact, prefixes map[string]Access) resourceRules {
	r := resourceRules{exact: exact}
	for p, a := range prefixes {
		r.prefixes = append(r.prefixes, prefixRule{p, a})
	}
	slices.SortFunc(r.prefixes, func(a, b prefixRule) int {
		return cmp.Or(cmp.Compare(len(b.prefix), len(a.prefix)), strings.Compare(a.prefix, b.prefix))
	})
	return r
}

// lookup returns the access of the rule that applies to name: its exact
// rule, else the longest prefix rule it starts with, else None.
func (r *resourceRules) lookup(name string) Access {
	if a, ok := r.exact[name]; ok {
		return a
	}
	return r.longestPrefix(name)
}

// longestPrefix returns the access of the longest prefix rule name starts
// with, or None.
func (r *resourceRules) longestPrefix(name string) Access {
	for _, p := range r.prefixes {
		if strings.HasPrefix(name, p.prefix) {
			return p.access
		}
	}
	return None
}

// grantsAllUnder reports whether want is granted on every name that
// starts with prefix: the longest prefix rule covering prefix grants it
// (or, without one, the default does), and so does every rule, exact or
// prefix, on a name under prefix.
func (r *resourceRules) grantsAllUnder(prefix string, want Access, def bool) bool {
	if !r.longestPrefix(prefix).grants(want, def) {
		return false
	}
	for name, a := range r.exact {
		if strings.HasPrefix(name, prefix) && !a.grants(want, def) {
			return false
		}
	}
	for _, p := range r.prefixes {
		if strings.HasPrefix(p.prefix, prefix) && !p.access.grants(want, def) {
			return false
		}
	}
	return true
}
