package acl

import (
	"errors"
	"strings"
	"testing"
)

// authorizer is a token holding rules, with the default policy def.
func authorizer(def bool, rules ...Rules) *Authorizer {
	return &Authorizer{policy: Compile(rules...), defaultAllow: def}
}

func TestParseAccess(t *testing.T) {
	for _, s := range []string{"read", "write", "deny"} {
		a, err := ParseAccess(s)
		if err != nil || a.String() != s {
			t.Errorf("ParseAccess(%q) = %v, %v", s, a, err)
		}
	}
	for _, s := range []string{"", "Read", "list", "allow", "none"} {
		if _, err := ParseAccess(s); err == nil {
			t.Errorf("ParseAccess(%q) accepted", s)
		}
	}
}

func TestKeyRules(t *testing.T) {
	rules := Rules{
		KeyPrefix: map[string]Access{"": Read, "app/": Write, "app/secret/": Deny, "ro/": Read},
		Key:       map[string]Access{"app/secret/public": Read, "app/exact": Deny},
	}
	type check struct {
		key         string
		read, write bool
	}
	for _, def := range []bool{false, true} {
		z := authorizer(def, rules)
		for _, c := range []check{
			{"other", true, false},             // "" read
			{"app/a", true, true},              // longest prefix: app/ write
			{"app/secret/pw", false, false},    // longer prefix: deny
			{"app/secret/public", true, false}, // exact beats every prefix
			{"app/exact", false, false},        // exact deny beats app/ write
			{"app/exact/below", true, true},    // an exact rule covers its key only
			{"app/secre", true, true},          // a prefix is bytes, not path segments
			{"ro/x", true, false},              // read denies write
			{"", true, false},                  // the empty key is under ""
		} {
			if got := z.KeyRead(c.key); got != c.read {
				t.Errorf("default %v: KeyRead(%q) = %v, want %v", def, c.key, got, c.read)
			}
			if got := z.KeyWrite(c.key); got != c.write {
				t.Errorf("default %v: KeyWrite(%q) = %v, want %v", def, c.key, got, c.write)
			}
		}
	}
}

func TestDefaultPolicy(t *testing.T) {
	rules := Rules{KeyPrefix: map[string]Access{"app/": Read}}
	for _, c := range []struct {
		def                bool
		key                string
		read, write        bool
		agentRead, agentWr bool
	}{
		{false, "other", false, false, false, false},
		{true, "other", true, true, true, false}, // allow never grants agent write
		{false, "app/x", true, false, false, false},
		{true, "app/x", true, false, true, false}, // a read rule denies write under allow too
	} {
		z := authorizer(c.def, rules)
		if z.KeyRead(c.key) != c.read || z.KeyWrite(c.key) != c.write || z.AgentRead() != c.agentRead || z.AgentWrite() != c.agentWr {
			t.Errorf("default %v, key %q: read %v write %v agent read %v agent write %v; want %v %v %v %v",
				c.def, c.key, z.KeyRead(c.key), z.KeyWrite(c.key), z.AgentRead(), z.AgentWrite(),
				c.read, c.write, c.agentRead, c.agentWr)
		}
	}
}

func TestAgentRules(t *testing.T) {
	for _, c := range []struct {
		agent       Access
		def         bool
		read, write bool
	}{
		{None, false, false, false},
		{None, true, true, false},
		{Read, false, true, false},
		{Read, true, true, false},
		{Write, false, true, true},
		{Deny, true, false, false},
	} {
		z := authorizer(c.def, Rules{Agent: c.agent})
		if z.AgentRead() != c.read || z.AgentWrite() != c.write {
			t.Errorf("agent %v, default %v: read %v write %v; want %v %v", c.agent, c.def, z.AgentRead(), z.AgentWrite(), c.read, c.write)
		}
	}
}

// TestMergeDenyWins merges the rules of several policies of one token:
// on the same resource deny wins over write, and write over read.
func TestMergeDenyWins(t *testing.T) {
	for _, c := range []struct {
		a, b Access
		want Access
	}{
		{Read, Write, Write},
		{Write, Read, Write},
		{Write, Deny, Deny},
		{Deny, Read, Deny},
		{Read, None, Read},
		{None, None, None},
	} {
		p := Compile(
			Rules{KeyPrefix: map[string]Access{"app/": c.a}, Key: map[string]Access{"k": c.a}, Service: map[string]Access{"web": c.a}, Agent: c.a},
			Rules{KeyPrefix: map[string]Access{"app/": c.b}, Key: map[string]Access{"k": c.b}, Service: map[string]Access{"web": c.b}, Agent: c.b},
		)
		if got := p.key.lookup("app/x"); got != c.want {
			t.Errorf("%v + %v on a prefix = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := p.key.lookup("k"); got != c.want {
			t.Errorf("%v + %v on a key = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := p.service.lookup("web"); got != c.want {
			t.Errorf("%v + %v on a service = %v, want %v", c.a, c.b, got, c.want)
		}
		if p.agent != c.want {
			t.Errorf("%v + %v on the agent = %v, want %v", c.a, c.b, p.agent, c.want)
		}
	}
	// Different prefixes of two policies do not merge: the longest wins.
	z := authorizer(false, Rules{KeyPrefix: map[string]Access{"app/": Deny}}, Rules{KeyPrefix: map[string]Access{"app/db/": Write}})
	if !z.KeyWrite("app/db/host") || z.KeyRead("app/x") {
		t.Errorf("longest prefix across policies: write app/db/host %v, read app/x %v", z.KeyWrite("app/db/host"), z.KeyRead("app/x"))
	}
}

func TestKeyPrefixDecisions(t *testing.T) {
	rules := Rules{
		KeyPrefix: map[string]Access{"app/": Write, "app/ro/": Read, "pub/": Read},
		Key:       map[string]Access{"app/locked": Deny},
	}
	for _, c := range []struct {
		def         bool
		prefix      string
		read, write bool
	}{
		{false, "app/ro/", true, false},
		{false, "app/db/", true, true}, // under app/, no rule beneath
		{false, "app/", false, false},  // app/locked denied, app/ro/ read-only
		{false, "app/l", false, false}, // app/locked lies under app/l
		{false, "pub/", true, false},
		{false, "", false, false},         // no rule covers "", default deny
		{true, "other/", true, true},      // no rule at all: the default
		{true, "", false, false},          // rules under "" take access away
		{false, "app/ro/x/", true, false}, // deeper than every rule
	} {
		z := authorizer(c.def, rules)
		if z.KeyReadPrefix(c.prefix) != c.read || z.KeyWritePrefix(c.prefix) != c.write {
			t.Errorf("default %v, prefix %q: read %v write %v; want %v %v", c.def, c.prefix,
				z.KeyReadPrefix(c.prefix), z.KeyWritePrefix(c.prefix), c.read, c.write)
		}
	}
}

func TestServiceRules(t *testing.T) {
	z := authorizer(false, Rules{
		ServicePrefix: map[string]Access{"": Read, "web": Write},
		Service:       map[string]Access{"web-admin": Deny},
	})
	for _, c := range []struct {
		name        string
		read, write bool
	}{
		{"db", true, false},
		{"web", true, true},
		{"web-api", true, true},
		{"web-admin", false, false},
	} {
		if z.ServiceRead(c.name) != c.read || z.ServiceWrite(c.name) != c.write {
			t.Errorf("service %q: read %v write %v; want %v %v", c.name, z.ServiceRead(c.name), z.ServiceWrite(c.name), c.read, c.write)
		}
	}
}

func TestAllowAll(t *testing.T) {
	z := AllowAll
	if !z.KeyRead("x") || !z.KeyWrite("x") || !z.KeyWritePrefix("") || !z.KeyReadPrefix("") ||
		!z.ServiceWrite("s") || !z.AgentRead() || !z.AgentWrite() {
		t.Fatal("AllowAll refused something")
	}
}

func TestDeniedError(t *testing.T) {
	for _, c := range []struct {
		anon bool
		r    Resource
		a    Access
		name string
		want string
	}{
		{false, ResourceKey, Write, "app/a", `Permission denied: token lacks permission 'key:write' on "app/a"`},
		{true, ResourceAgent, Write, "", "Permission denied: anonymous token lacks permission 'agent:write'. The anonymous token is used implicitly when a request does not specify a token."},
		{false, ResourceAgent, Read, "", "Permission denied: token lacks permission 'agent:read'"},
	} {
		z := &Authorizer{anonymous: c.anon}
		err := z.Denied(c.r, c.a, c.name)
		if err.Error() != c.want || !errors.Is(err, ErrPermissionDenied) {
			t.Errorf("Denied = %q (is ErrPermissionDenied: %v), want %q", err, errors.Is(err, ErrPermissionDenied), c.want)
		}
	}
}

func TestResolver(t *testing.T) {
	read := Compile(Rules{KeyPrefix: map[string]Access{"": Read}})
	r, err := NewResolver(Config{
		Anonymous: Compile(Rules{KeyPrefix: map[string]Access{"pub/": Read}}),
		Tokens: []Token{
			{Secret: "0123456789abcdef-read", Description: "reader", Policy: read},
			{Secret: "0123456789abcdef-none", Description: "nothing"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	anon, err := r.Resolve("")
	if err != nil || !anon.Anonymous() || anon.Description() != "anonymous" || !anon.KeyRead("pub/a") || anon.KeyRead("app/a") {
		t.Fatalf("anonymous = %+v, %v", anon, err)
	}
	z, err := r.Resolve("0123456789abcdef-read")
	if err != nil || z.Anonymous() || z.Description() != "reader" || !z.KeyRead("app/a") || z.KeyWrite("app/a") {
		t.Fatalf("reader = %+v, %v", z, err)
	}
	z, err = r.Resolve("0123456789abcdef-none")
	if err != nil || z.KeyRead("app/a") || z.AgentRead() {
		t.Fatalf("a token without policy = %+v, %v", z, err)
	}
	for _, s := range []string{"0123456789abcdef-rea", "0123456789abcdef-read ", "x", "anonymous", "reader"} {
		if z, err := r.Resolve(s); !errors.Is(err, ErrNotFound) || z != nil {
			t.Errorf("Resolve(%q) = %v, %v; want ErrNotFound", s, z, err)
		}
	}

	var disabled *Resolver
	if z, err := disabled.Resolve("anything"); err != nil || z != AllowAll {
		t.Fatalf("nil resolver: %v, %v", z, err)
	}
}

func TestNewResolverRefusesBadTokens(t *testing.T) {
	_, err := NewResolver(Config{Tokens: []Token{{Secret: "same-secret-0123456"}, {Secret: ""}, {Secret: "same-secret-0123456"}}})
	if err == nil {
		t.Fatal("accepted an empty and a repeated secret")
	}
	for _, want := range []string{"token 1 has no secret", "tokens 0 and 2 have the same secret"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "same-secret") {
		t.Errorf("error shows a secret: %q", err)
	}
}
