// Package acl decides what a token of the local HTTP API may do: the
// rules of Consul's ACL system over the resources edgeplane has, read from
// the agent's configuration rather than replicated between agents.
//
// # Model
//
// A Rules value is what one policy grants: an Access (read, write or deny)
// on exact keys, on key prefixes, on exact service names, on service name
// prefixes, and on the agent itself. Compile merges the rules of every
// policy a token holds into one Policy; where two policies name the same
// key, prefix, service or the agent, deny wins over write and write over
// read, as Consul merges a token's policies.
//
// An Authorizer is a Policy with the default policy (allow or deny) behind
// it. For a key or a service name, an exact rule wins, then the rule of
// the longest matching prefix, then the default policy. write grants read
// too; read denies write; deny denies both. Two decisions are stricter
// than Consul's:
//
//   - Agent write (leave, join, reload, keyring, snapshots, force-leave
//     and every endpoint the API does not classify) needs an explicit
//     agent: write rule: default_policy allow does not grant it, so that
//     turning tokens on always takes the agent's controls away from
//     processes that hold none.
//   - KeyReadPrefix and KeyWritePrefix hold only when every key under the
//     prefix is allowed: the longest prefix rule covering the prefix
//     allows it, and no rule under the prefix takes it away. A recursive
//     delete needs KeyWritePrefix, as in Consul; a prefix read whose
//     token lacks KeyReadPrefix is filtered key by key.
//
// # Tokens
//
// A Resolver maps a request's secret to its Authorizer. An empty secret
// is the anonymous token, whose policy is the configured anonymous one; a
// secret no token holds is ErrNotFound. Secrets are kept as SHA-256
// digests and compared in constant time against every token, so neither
// the time an answer takes nor a memory dump of the resolver tells a
// secret. A nil *Resolver stands for ACLs disabled: every secret resolves
// to AllowAll.
//
// Everything here is a pure function of its inputs: the HTTP API asks,
// this package answers, and the tests are tables.
package acl
