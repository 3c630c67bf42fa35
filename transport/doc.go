// Package transport will hold edgeplane's RPC between agents over QUIC
// with mutual TLS and CBOR bodies: server, client, deadlines, retries,
// circuit breakers, balancing and interceptors. It must never import the
// agent or gossip, so it can serve as a library on its own.
package transport
