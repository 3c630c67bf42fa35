// Package jointoken encodes and decodes join tokens: the one secret a new
// device needs to enrol in a mesh whose gossip is encrypted.
//
// A token is the text "ep1." followed by the unpadded base64url encoding
// of a small JSON object:
//
//	{"k": "<base64 gossip key>", "s": ["10.20.0.11:7946", "10.20.0.12:7946"]}
//
// k is the gossip key in use on the mesh (standard base64 of 16, 24 or 32
// bytes) and s lists seed addresses, host:port of members' gossip
// listeners. A device configured with a token installs the key as its
// gossip keyring and joins through the seeds, which makes it exactly a
// node configured with encrypt and retry_join: it gossips encrypted and
// pins its peers' RPC certificates through that gossip.
//
// Whoever holds a token holds the mesh's gossip key: hand it over as a
// secret, and rotate the key (edgeplane keyring) when a token leaks.
//
// Parse reads tokens from configuration, files and the network, so it
// treats its input as untrusted: at most MaxLen bytes, one version prefix,
// strict base64url, strict JSON (no unknown fields, no trailing data), a
// valid key and 1 to MaxSeeds well-formed seeds. Its errors never repeat
// the key.
package jointoken
