package catalog

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

// Anti-entropy, as Consul's catalog sync: the local bucket is the
// authority on this node's records, and Table is made to agree with it
// at start, every SyncInterval, on Sync (the agent calls it on reload)
// and on Restamp (after this node rejoins the mesh). Records of a node
// that the mesh reaped are removed by RemoveNode.

// DefaultSyncInterval is the default Config.SyncInterval, Consul's
// anti-entropy interval for a small cluster.
const DefaultSyncInterval = time.Minute

// ErrOwnNode reports a RemoveNode of this node.
var ErrOwnNode = errors.New("catalog: this node's records are removed by deregistering")

// antiEntropy reconciles when SyncInterval has passed since the last
// time. The TTL loop calls it.
func (c *Catalog) antiEntropy() {
	c.wmu.Lock()
	now := c.clock.Now()
	due := !c.closed && !c.nextSync.IsZero() && !now.Before(c.nextSync)
	if due {
		c.nextSync = now.Add(c.cfg.SyncInterval)
	}
	c.wmu.Unlock()
	if !due {
		return
	}
	if err := c.reconcile(); err != nil && !errors.Is(err, ErrClosed) {
		c.log.Error("anti-entropy: making the catalog agree with this node's registrations", "err", err,
			"retry_in", c.cfg.SyncInterval)
	}
}

// Sync makes Table agree with the local bucket now: records of this
// node that are missing or differ are written, those the bucket lacks
// become tombstones. It writes nothing when they agree.
func (c *Catalog) Sync() error { return c.reconcile() }

// Restamp writes every record of this node again with a fresh version,
// even those that agree, and removes those the bucket lacks. The agent
// calls it after this node rejoins the mesh: the others may have reaped
// it meanwhile and written tombstones of its records (RemoveNode), or
// collected those tombstones and with them any memory of the records.
// A local write is stamped after the version this replica holds, so a
// tombstone that arrived already loses to the new record; one that
// arrives later, stamped after it, is a change of this node's records
// from elsewhere, which the catalog writes back within repairEvery.
func (c *Catalog) Restamp() error { return c.rewrite(true) }

// RemoveNode writes tombstones for every live record of node, its
// instances and checks, and returns how many. The agent calls it when
// the mesh reaps a failed node (reconnect_timeout passed); several nodes
// doing so converge on the same state. The caller makes sure node is
// not alive: should it be, its own catalog writes its records back (see
// Restamp). It fails with ErrOwnNode for this node.
func (c *Catalog) RemoveNode(node string) (int, error) {
	if node == c.cfg.Node {
		return 0, ErrOwnNode
	}
	if node == "" || !validNodeSegment(node) {
		return 0, invalid("node %q: a node name, without '/'", node)
	}
	n := 0
	err := c.cfg.Store.Update(func(tx *store.Tx) error {
		n = 0
		var keys []string
		for _, prefix := range []string{ServiceKey(node, ""), CheckKey(node, "")} {
			err := tx.Scan(Table, prefix, func(e *store.Entry) error {
				if !e.Deleted {
					keys = append(keys, e.Key)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		for _, k := range keys {
			if _, err := tx.Delete(Table, k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("catalog: removing the records of node %q: %w", node, err)
	}
	return n, nil
}

// validNodeSegment reports whether node can be the <node> of a key.
func validNodeSegment(node string) bool {
	return !strings.Contains(node, "/") && len(node) <= store.MaxKeyLen/4
}
