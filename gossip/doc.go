// Package gossip will hold edgeplane's mesh membership over SWIM gossip
// (hashicorp/memberlist): joining through seeds, failure detection, leave,
// node metadata and events. It must never import the agent: the agent
// plugs in through small delegate interfaces.
package gossip
