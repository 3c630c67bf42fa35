// Package agent wires one edgeplane node together: it opens the store in
// the data directory, starts gossip membership (package gossip) and joins
// the mesh in the background, serves the local Consul-compatible HTTP API
// on loopback, runs the background loops (tombstone collection), and shuts
// them down in order.
//
// The data flows one way: requests reach the HTTP API (package httpapi),
// which reads and writes the store (package store) and asks the membership
// (package gossip) for members. RPC (transport) plugs in here as it is
// added; gossip and transport never import agent.
//
// Sub-packages:
//
//   - config: options from YAML files, environment and flags, validated
//     strictly.
//   - httpapi: the HTTP API, a subset of Consul's.
//   - cli: the edgeplane command and its subcommands.
//   - version: build stamps and the clock floor.
//   - sdnotify: systemd's notification protocol and the watchdog that pings
//     only while the agent's health check passes (wired in by SetHooks;
//     Reload re-reads the configuration).
package agent
