package acl

import (
	"errors"
	"fmt"
	"strconv"
)

// Errors the API answers with 403, their text as Consul's.
var (
	// ErrNotFound is the error of a secret no token holds.
	ErrNotFound = errors.New("ACL not found")
	// ErrPermissionDenied is matched (errors.Is) by every *DeniedError.
	ErrPermissionDenied = errors.New("Permission denied")
)

// Resource names a kind of resource in a DeniedError, as Consul does.
type Resource string

// The resources rules grant access to.
const (
	ResourceKey     Resource = "key"
	ResourceService Resource = "service"
	ResourceAgent   Resource = "agent"
)

// DeniedError says what a token lacked. Its text is Consul's:
//
//	Permission denied: token lacks permission 'key:write' on "app/a"
//	Permission denied: anonymous token lacks permission 'agent:write'. The anonymous token is used implicitly when a request does not specify a token.
type DeniedError struct {
	Anonymous bool
	Resource  Resource
	Access    Access // Read or Write
	Name      string // the key, prefix or service; "" for the agent
}

func (e *DeniedError) Error() string {
	who := "token"
	if e.Anonymous {
		who = "anonymous token"
	}
	msg := fmt.Sprintf("%s: %s lacks permission '%s:%s'", ErrPermissionDenied, who, e.Resource, e.Access)
	if e.Resource != ResourceAgent {
		msg += " on " + strconv.Quote(e.Name)
	}
	if e.Anonymous {
		msg += ". The anonymous token is used implicitly when a request does not specify a token."
	}
	return msg
}

// Is makes errors.Is(err, ErrPermissionDenied) hold.
func (e *DeniedError) Is(target error) bool { return target == ErrPermissionDenied }

// Authorizer answers what one token may do. Resolver.Resolve returns one
// for each request; AllowAll is the one of an API without ACLs.
type Authorizer struct {
	policy *Policy
	// defaultAllow is the default policy: what a resource no rule covers
	// gets (never agent write).
	defaultAllow bool
	// all: ACLs are off, everything is allowed.
	all bool
	// anonymous: the request named no token.
	anonymous bool
	// description is the token's, for logs; never its secret.
	description string
}

// AllowAll allows everything: the Authorizer of every request when ACLs
// are disabled.
var AllowAll = &Authorizer{all: true, policy: &Policy{}}

// Anonymous reports whether the request named no token.
func (z *Authorizer) Anonymous() bool { return z.anonymous }

// Description is the token's description, "anonymous" for the anonymous
// token. It is safe to log.
func (z *Authorizer) Description() string {
	if z.anonymous {
		return "anonymous"
	}
	return z.description
}

// KeyRead reports whether the token may read key.
func (z *Authorizer) KeyRead(key string) bool {
	return z.all || z.policy.key.lookup(key).grants(Read, z.defaultAllow)
}

// KeyWrite reports whether the token may write or delete key.
func (z *Authorizer) KeyWrite(key string) bool {
	return z.all || z.policy.key.lookup(key).grants(Write, z.defaultAllow)
}

// KeyReadPrefix reports whether the token may read every key under prefix.
func (z *Authorizer) KeyReadPrefix(prefix string) bool {
	return z.all || z.policy.key.grantsAllUnder(prefix, Read, z.defaultAllow)
}

// KeyWritePrefix reports whether the token may write every key under
// prefix, as a recursive delete needs.
func (z *Authorizer) KeyWritePrefix(prefix string) bool {
	return z.all || z.policy.key.grantsAllUnder(prefix, Write, z.defaultAllow)
}

// ServiceRead reports whether the token may read the service name.
func (z *Authorizer) ServiceRead(name string) bool {
	return z.all || z.policy.service.lookup(name).grants(Read, z.defaultAllow)
}

// ServiceWrite reports whether the token may register or deregister the
// service name.
func (z *Authorizer) ServiceWrite(name string) bool {
	return z.all || z.policy.service.lookup(name).grants(Write, z.defaultAllow)
}

// AgentRead reports whether the token may read the agent's state (self,
// members, replication, ping).
func (z *Authorizer) AgentRead() bool {
	return z.all || z.policy.agent.grants(Read, z.defaultAllow)
}

// AgentWrite reports whether the token may operate the agent: leave, join,
// reload, keyring, snapshots, force-leave. Only an explicit agent: write
// rule grants it, whatever the default policy.
func (z *Authorizer) AgentWrite() bool {
	return z.all || z.policy.agent == Write
}

// Denied returns the error of a request refused for lacking access
// (Read or Write) on the resource named name.
func (z *Authorizer) Denied(r Resource, access Access, name string) error {
	return &DeniedError{Anonymous: z.anonymous, Resource: r, Access: access, Name: name}
}
