// Package tlsmesh makes and checks the certificates that bind an RPC peer
// to one node of the mesh. It knows nothing of gossip or of the transport:
// the transport takes a VerifyFunc, and the membership layer supplies what
// a verifier needs (the fleet CA, or the fingerprints nodes announced).
//
// # Identity
//
// A node's certificate names the node in exactly one DNS subject
// alternative name (and in its common name). VerifyFunc checks a peer's
// certificate and returns that name; a certificate naming no node, or more
// than one, is refused. The caller then binds the name: a client refuses a
// server whose name is not the node it dialled, and a server's auth check
// refuses a name that is not a current member.
//
// # Trust modes
//
// FleetCA: an operator creates a CA once (CreateCA writes ca.pem and
// ca-key.pem, an ECDSA P-256 key) and issues each node a certificate
// (CA.WriteNodeCert writes NAME.pem and NAME-key.pem, valid two years by
// default). VerifyFleet accepts a peer only if its certificate chains to
// the fleet CA and is valid at the verifier's Now. Pass a Now that never
// reads earlier than what the node has already seen (for example the later
// of the wall clock and the hybrid logical clock's high-water mark): a
// device that boots with its clock at 1970 then still refuses expired
// certificates, because its notion of now cannot go back past them.
//
// # Reloading
//
// LoadMaterial reads a node's certificate, key and CA bundle, and
// Material.Check refuses material that cannot serve: a key that is not
// the certificate's, a certificate that is expired or not yet valid at
// the verifier's Now, names another node, or does not chain to the
// bundle. Live holds the material in effect; the transport asks it for
// the certificate at each handshake and VerifyFleetFrom for the CA pool,
// so storing new material changes the next handshakes and leaves open
// connections alone. A CA is rotated by first trusting a bundle of the
// old and new CA everywhere, then issuing certificates of the new one,
// then dropping the old.
//
// PinnedEncrypted and PinnedPlain: each node makes a self-signed
// certificate once (LoadOrCreateSelfSigned keeps it in the data directory)
// and announces Fingerprint of it, the SHA-256 of the certificate's DER,
// in its gossip metadata. VerifyPinned accepts a peer only if the SHA-256
// of the certificate it presents equals the fingerprint announced for the
// node the certificate names. Time is not checked: the pin is the trust,
// and a node rotates by deleting its files and announcing the new
// fingerprint. When gossip is encrypted, only holders of the gossip key
// can announce fingerprints, so the gossip key bootstraps RPC trust. When
// it is not, anyone who can reach the gossip port can announce a
// fingerprint: traffic is still encrypted, but peers are not
// authenticated, and Mode.Warning says so.
package tlsmesh
