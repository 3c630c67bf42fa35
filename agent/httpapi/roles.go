package httpapi

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/jointoken"
	"github.com/edgeplane/edgeplane/agent/layers"
	"github.com/edgeplane/edgeplane/agent/logstream"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
)

// The roles the API asks the agent to play, each as small as its
// endpoints need. Config takes one of each; a nil role leaves its
// endpoints answering as an agent without that part does (see Config).

// Store is what the API needs of the agent's store; *store.Store
// implements it.
type Store interface {
	Get(key string) (e store.Entry, found bool, index uint64, err error)
	ListPage(prefix, from string, maxBytes int) (store.Page, error)
	KeysPage(prefix, separator, from string, maxBytes int) (store.Page, error)
	CAS(key string, value []byte, flags uint64, index *uint64) (store.Entry, bool, error)
	Delete(key string, index *uint64) (bool, error)
	DeleteTree(prefix string) (int, error)
	WaitIndex(ctx context.Context, key string, prefix bool, after uint64) (uint64, error)
	Index() uint64
}

// History is the node's history of kv versions, and rollbacks to them
// (history.go); *store.Store implements it.
type History interface {
	History(q store.HistoryQuery) ([]store.HistoryEntry, error)
	PlanRollback(key string, version store.Stamp, origin string) ([]store.RollbackChange, error)
	PlanPrefixRollback(prefix string, at store.Stamp) ([]store.RollbackChange, []string, error)
	Rollback(changes []store.RollbackChange) ([]store.Entry, error)
}

// Mesh is what the membership endpoints need from the agent.
type Mesh interface {
	Members() []gossip.Member
	Join(addrs []string) (int, error)
	// Leave leaves the mesh gracefully and shuts the agent down.
	Leave() error
	// ForceLeave marks a failed node as left; with prune it also frees
	// the node's name for another certificate, and accepts a node that
	// is already left or forgotten.
	ForceLeave(node string, prune bool) error
	Keyring(ctx context.Context, op, key string) ([]gossip.KeyringReply, error)
}

// Snapshots saves and restores the store.
type Snapshots interface {
	// Save streams a snapshot of the whole store.
	Save(w io.Writer) error
	// Restore merges a snapshot stream by last-writer-wins and spreads
	// what changed.
	Restore(r io.Reader) (RestoreResult, error)
}

// Compactor compacts the store's data file.
type Compactor interface {
	// Compact rewrites the data file without its free pages.
	Compact(ctx context.Context) (api.CompactResult, error)
}

// Replication reports the state of replication.
type Replication interface {
	// State is the answer of GET /v1/edgeplane/replication.
	State() api.Replication
}

// Pinger calls another agent's ping method and measures the round trip.
type Pinger interface {
	// Ping returns an error wrapping ErrUnknownNode for a node that is not
	// a live member.
	Ping(ctx context.Context, node string) (addr string, rtt time.Duration, err error)
}

// JoinTokens gives what a join token for a new device holds.
type JoinTokens interface {
	// JoinToken returns the mesh's gossip key in use and seeds: the given
	// ones (already checked), or when none, addresses the agent picks. It
	// returns an error wrapping ErrNoJoinToken when the mesh has no gossip
	// key, its message saying how to enrol a device instead.
	JoinToken(seeds []string) (jointoken.Token, error)
}

// Reloader re-reads the agent's configuration.
type Reloader interface {
	Reload() (ReloadReport, error)
}

// Revoker revokes certificates fleet-wide.
type Revoker interface {
	// Revoke returns an error wrapping ErrUnknownNode for a name no
	// member announced a certificate under.
	Revoke(target string) (api.Revocation, error)
	Revoked() ([]api.Revocation, error)
}

// Monitor streams the agent's log records; *logstream.Hub implements it.
type Monitor interface {
	Subscribe(level slog.Level, json bool, queue int) *logstream.Stream
}

// LogLeveler sets the agent's own log level.
type LogLeveler interface {
	SetLogLevel(level string) error
}

// Catalog is this node's part of the service catalog (package catalog):
// the services and checks registered through the API.
type Catalog interface {
	// Register registers an instance and its checks, or updates the one
	// of the same ID in place; errors wrap catalog.ErrInvalid for what it
	// refuses.
	Register(reg catalog.Registration, replaceExistingChecks bool) error
	// Deregister removes a service and its checks; an unknown ID is
	// catalog.ErrUnknownService.
	Deregister(serviceID string) error
	Services() []catalog.Instance
	Service(serviceID string) (catalog.Instance, bool)
	Checks() []catalog.CheckState
	CheckByID(checkID string) (catalog.CheckState, bool)
	// UpdateTTL reports a TTL check's status and output; an unknown ID is
	// catalog.ErrUnknownCheck.
	UpdateTTL(checkID, status, output string) error
	// Read reads every node's instances and checks from the replicated
	// table; with after > 0 it first waits for a change of the table past
	// that index, or ctx's end (catalog.Read).
	Read(ctx context.Context, after uint64) (catalog.Snapshot, error)
	// EnableNodeMaintenance and the others put the node, or one of its
	// services, in maintenance and take it out (catalog's maintenance
	// mode); an unknown service is catalog.ErrUnknownService, a reason
	// too long catalog.ErrInvalid.
	EnableNodeMaintenance(reason string) error
	DisableNodeMaintenance() error
	EnableServiceMaintenance(serviceID, reason string) error
	DisableServiceMaintenance(serviceID string) error
}

// Layers resolves keys through the layers of the KV store
// (/v1/edgeplane/resolve/, package layers).
type Layers interface {
	// Resolver returns the layers in effect; a reload may change them.
	Resolver() *layers.Resolver
	// View and WaitKeys read the store: *store.Store has them.
	layers.Store
}
