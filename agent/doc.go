// Package agent wires one edgeplane node together. It holds no logic of
// its own: New builds the components, Run starts them in order and stops
// them in reverse. agent.go reads top to bottom as what runs, in which
// order:
//
//  0. before anything is opened or bound, the secure default
//     (secure.go): an agent off loopback whose mesh nobody would
//     authenticate refuses to start, unless insecure_mesh says so.
//  1. data dir: the data directory and its store (package store), opened
//     first and closed last; in dev mode a temporary dir, removed on
//     close. A join token's gossip key is installed in its keyring here,
//     on a device that has none (enrol.go), so that the trust mode
//     chosen next is that of a node configured with encrypt.
//  2. membership: gossip (package gossip). New binds its port (after
//     the RPC socket it announces is bound and the certificate whose
//     fingerprint it announces loaded); Start gossips and joins the mesh
//     in the background, Close leaves it (leave_on_terminate).
//  3. rpc: the QUIC endpoint (package transport) other agents call and
//     this one calls them with; its authentication asks the membership
//     who the members are. Serves from Start; Close drains calls.
//  4. replication: package replica's Service, fed by gossip and RPC,
//     spreading the store's writes and running anti-entropy. New hands
//     it to gossip (gossip.Handlers) and RPC (the peers' clock readings)
//     once it is built.
//     After it come the revocations and the service catalog (package
//     catalog): configured services registered at start and on every
//     reload, anti-entropy every catalog_sync_interval, and catalogMesh
//     (catalogmesh.go), which follows membership: a failed member that
//     is reaped has its records tombstoned, and this node's records are
//     re-stamped when it (re)joins the mesh. Then the service proxy
//     (package proxy, serviceproxy.go): the upstream listeners of the
//     configured services, bound in New, and the handler of the calls
//     other agents carry to this node's instances, registered on the RPC
//     server before it serves. Then the config centre's
//     keeper of last good values (package schema), and the render
//     blocks (package render, render.go): files written from the store,
//     read through the layers and schemas, each block a check
//     edgeplane:render:<name> of the agent's own service.
//  5. http: the local Consul-compatible API (package httpapi), built from
//     one httpapi.Config naming the role each component plays for it.
//     Close ends blocking queries and drains requests.
//     After it come the exec watches (package watch, watches.go): they
//     read through the API's handler in process, run their handlers
//     with its JSON, and are stopped, their handlers killed, before the
//     API drains.
//  6. supervision: systemd readiness once the health probe passes
//     (package sdnotify), the watchdog, STOPPING=1 at shutdown, and
//     reloads (SIGHUP, edgeplane reload, PUT /v1/agent/reload): the
//     live options' table in reload.go, and the TLS material swapped for
//     the next handshakes by meshTLS (tlsreload.go).
//
// So a shutdown tells systemd first, then stops the watches, drains the
// HTTP API, stops replication, drains RPC, leaves the mesh and closes the
// store.
//
// # Adding a subsystem
//
// A subsystem (catalog, health checks, rendering, a proxy, metrics) is a
// type with Start(ctx) error and Close() error, built in New from what it
// needs of the components before it (the store, the membership, the RPC
// server to register methods on), passed as small interfaces or
// functions, and added with a.add where it belongs in the order. If it
// serves HTTP endpoints, it is a role in httpapi.Config. It never reaches
// back into the Agent.
//
// Data flows one way: requests reach the HTTP API, which reads and writes
// the store; replication moves the store's writes between agents over
// gossip and RPC. gossip and transport never import agent.
//
// Gossip and RPC are built before the replica, which sends through them,
// yet both deliver to it. The loop needs no indirection because nothing
// runs in New: gossip binds its port there but gossips from Start, and RPC
// serves calls from Start, so New builds the replica with both in hand
// and then sets it as their receiver with plain assignments.
//
// Sub-packages:
//
//   - config: options from YAML files, environment and flags, validated
//     strictly.
//   - jointoken: the join token that enrols a device: a gossip key and
//     seeds in one string.
//   - httpapi: the HTTP API, a subset of Consul's.
//   - replica: replication between agents, and the Service that runs it
//     inside an agent.
//   - cli: the edgeplane command and its subcommands.
//   - version: build stamps and the clock floor.
//   - watch: exec watches, Consul's, run with the API's JSON; command:
//     the runner of the programs the agent starts (watch handlers,
//     script checks).
//   - render: files written from templates over the store, checked,
//     applied atomically, reloaded and rolled back.
//   - proxy: calls between services over the mesh: upstream listeners,
//     per-pair policy, nearest healthy instance, caller identity.
//   - sdnotify: systemd's notification protocol, the watchdog that pings
//     only while the agent's health probe passes (wired in by SetHooks;
//     Reload re-reads the configuration).
package agent
