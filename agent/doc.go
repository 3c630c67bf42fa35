// Package agent wires one edgeplane node together: it opens the store in
// the data directory, serves the local Consul-compatible HTTP API on
// loopback and runs the background loops (tombstone collection), and shuts
// them down in order.
//
// The data flows one way: requests reach the HTTP API (package httpapi),
// which reads and writes the store (package store). Membership (gossip) and
// RPC (transport) plug in here as they are added; they never import agent.
//
// Sub-packages:
//
//   - config: options from YAML files, environment and flags, validated
//     strictly.
//   - httpapi: the HTTP API, a subset of Consul's.
//   - cli: the edgeplane command and its subcommands.
//   - version: build stamps and the clock floor.
package agent
