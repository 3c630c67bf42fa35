package api

import "time"

// KVPair is one key as the KV endpoints answer it: Consul's KVPair, field
// for field and in the same order. Value is base64 in JSON; a key written
// with an empty value has a nil Value.
type KVPair struct {
	LockIndex   uint64 // always 0: edgeplane has no locks
	Key         string
	Flags       uint64
	Value       []byte
	CreateIndex uint64
	ModifyIndex uint64
}

// AgentMember is Consul's AgentMember, an element of GET
// /v1/agent/members. Status is Serf's number (1 alive, 2 leaving, 3 left,
// 4 failed; a suspect member is reported alive, as Serf does); Tags hold
// the member's gossip metadata plus "dc", "role" and "status" (alive,
// suspect, leaving, left or failed).
type AgentMember struct {
	Name        string
	Addr        string
	Port        uint16
	Tags        map[string]string
	Status      int
	ProtocolMin uint8
	ProtocolMax uint8
	ProtocolCur uint8
	DelegateMin uint8
	DelegateMax uint8
	DelegateCur uint8
}

// CatalogNode is Consul's catalog Node, an element of GET
// /v1/catalog/nodes.
type CatalogNode struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	CreateIndex     uint64
	ModifyIndex     uint64
}

// KeyringRequest is the body of the keyring's install, use and remove
// requests.
type KeyringRequest struct {
	Key string // base64
}

// KeyringResponse is Consul's KeyringResponse, plus each node's answer in
// Nodes. The endpoint answers an array holding one.
type KeyringResponse struct {
	WAN         bool
	Datacenter  string
	Segment     string
	Keys        map[string]int // installed key -> nodes holding it
	PrimaryKeys map[string]int // key in use -> nodes using it
	NumNodes    int
	Messages    map[string]string // node -> its error
	Nodes       []KeyringReply
}

// KeyringReply is one node's answer to a keyring operation.
type KeyringReply struct {
	ID      uint64 `json:",omitempty"`
	Node    string
	Error   string   `json:",omitempty"`
	Keys    []string `json:",omitempty"` // installed keys, base64
	Primary string   `json:",omitempty"` // the key in use
}

// AgentSelf is the answer to GET /v1/agent/self.
type AgentSelf struct {
	Config SelfConfig
	Member SelfMember
	Meta   map[string]string
	// Stats are the agent's counters by section (agent, rpc, replication,
	// store), as Consul reports them.
	Stats map[string]map[string]string
	// DebugConfig is the agent's configuration in effect by option key,
	// with its secrets (gossip key, join token, ACL secrets, check
	// headers) shown as "hidden", as Consul shows a redacted DebugConfig.
	DebugConfig map[string]any `json:",omitempty"`
}

// SelfConfig is the Config part of AgentSelf.
type SelfConfig struct {
	Datacenter        string
	PrimaryDatacenter string
	NodeName          string
	NodeID            string
	Site              string
	Revision          string
	BuildDate         string
	Server            bool // always false: every agent is a client and its own server
	Version           string
	RPCAddr           string // host:port of the RPC listener announced to peers
}

// SelfMember is the Member part of AgentSelf: the agent as it gossips.
type SelfMember struct {
	Name   string
	Addr   string
	Port   int
	Tags   map[string]string
	Status int
}

// PingResult is the answer to GET /v1/edgeplane/rpc/ping/<node>.
type PingResult struct {
	Node     string
	Addr     string // the node's RPC address
	RTT      string // the round trip as a Go duration
	RTTNanos int64
}

// Duration returns the round trip.
func (p PingResult) Duration() time.Duration { return time.Duration(p.RTTNanos) }

// JoinToken is the answer to GET /v1/agent/join-token, edgeplane's own.
type JoinToken struct {
	// Token is the join token: "ep1." and the mesh's gossip key with the
	// seeds, encoded (see package jointoken). It is a secret.
	Token string
	// Seeds are the gossip addresses the token carries.
	Seeds []string
}

// ReloadReport is the answer to PUT /v1/agent/reload.
type ReloadReport struct {
	// Applied lists the options whose new values are in effect.
	Applied []string
	// RestartRequired lists the changed options that take effect only when
	// the agent restarts.
	RestartRequired []string
	// Rejected lists the changed options whose new values the agent
	// refused (a TLS certificate that does not match its key, or has
	// expired); their old values stay in effect.
	Rejected []ReloadRejection
}

// ReloadRejection is an option a reload refused, and why.
type ReloadRejection struct {
	Key    string
	Reason string
}

// RestoreResult is the answer to PUT /v1/edgeplane/snapshot.
type RestoreResult struct {
	Changed int // records that changed the store
	// Quarantined counts records whose keys are not valid UTF-8: kept in
	// the store's quarantine, not restored.
	Quarantined int
}

// CompactResult is the answer to PUT /v1/edgeplane/store/compact.
type CompactResult struct {
	Before int64 // size of the data file before, in bytes
	After  int64 // and after
}

// Replication is the answer to GET /v1/edgeplane/replication.
type Replication struct {
	// Local are the node's own counters, as in AgentSelf.Stats.
	Local     map[string]string
	Bootstrap BootstrapProgress
	Peers     []ReplicationPeer
	// Quarantine lists the records whose keys are not valid UTF-8, which
	// the node keeps but never replicates.
	Quarantine []QuarantinedRecord
}

// BootstrapProgress is the state of a bootstrap (a full pull of the store
// from a peer) in progress.
type BootstrapProgress struct {
	Running bool
	Peer    string // streaming from
	Records int    // received so far
}

// ReplicationPeer is the anti-entropy state of one peer.
type ReplicationPeer struct {
	Node          string
	Addr          string
	LastSync      time.Time // zero: never
	LastResult    string    // "equal", "repaired" or the error
	DigestRoot    string    // the peer's digest root at the last sync, hex ("": unknown)
	Received      int       // records, all rounds
	Sent          int       // records, all rounds
	BytesSent     int
	BytesReceived int
	Breaker       string // the circuit breaker's state for the peer
}

// QuarantinedRecord is a record of the store's quarantine. Its key is not
// valid UTF-8, so Key holds it escaped, as a Go string literal
// ("poison/\xff\xfe"); its value is kept, so that it can be written again
// under a valid key.
type QuarantinedRecord struct {
	Key     string
	Value   []byte
	Flags   uint64
	Deleted bool
	Version string
	Origin  string
}

// Revocation is a revoked certificate: the answer to
// PUT /v1/edgeplane/revoke/<node|fingerprint>, and an item of
// GET /v1/edgeplane/revoked.
type Revocation struct {
	Fingerprint string // SHA-256 of the certificate, hex
	Node        string `json:",omitempty"` // the node it named, when known
}
