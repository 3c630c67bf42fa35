package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	if err := c.syncTable(false); err != nil && !errors.Is(err, ErrClosed) {
		c.log.Error("anti-entropy: making the catalog agree with this node's registrations", "err", err,
			"retry_in", c.cfg.SyncInterval)
	}
}

// Sync makes Table agree with the local bucket now: records of this
// node that are missing or differ from what the bucket holds are
// written, those the bucket lacks become tombstones. It writes nothing
// when they agree.
func (c *Catalog) Sync() error { return c.syncTable(false) }

// Restamp writes every record of this node again with a fresh version,
// even those that agree, and removes those the bucket lacks. The agent
// calls it after this node rejoins the mesh: the others may have reaped
// it meanwhile and written tombstones of its records (RemoveNode), or
// collected those tombstones and with them any memory of the records.
// A local write is stamped after the version this replica holds, so a
// tombstone that arrived already loses to the new record; one that
// arrives later, stamped after it, is a change of this node's records
// from elsewhere, which the catalog writes back within repairEvery.
func (c *Catalog) Restamp() error { return c.syncTable(true) }

// syncTable makes Table's records of this node those the local bucket
// holds: the records as last written, never an output or a TTL deadline
// that CheckUpdateInterval holds back, so that anti-entropy costs no
// write of its own when nothing was lost. With force, every record is
// written again. It writes nothing to the local bucket.
func (c *Catalog) syncTable(force bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return ErrClosed
	}
	node := c.cfg.Node
	err := c.cfg.Store.Update(func(tx *store.Tx) error {
		want := map[string][]byte{}
		l := tx.Local(localBucket)
		err := l.Scan(servicePrefix, func(key string, v []byte) error {
			want[ServiceKey(node, key[len(servicePrefix):])] = v
			return nil
		})
		if err != nil {
			return err
		}
		err = l.Scan(checkPrefix, func(key string, v []byte) error {
			var lc localCheck
			if err := recordDec.Unmarshal(v, &lc); err != nil {
				return fmt.Errorf("local %s: %w", key, err)
			}
			rec, err := EncodeCheck(&lc.Check)
			if err != nil {
				return err
			}
			want[CheckKey(node, key[len(checkPrefix):])] = rec
			return nil
		})
		if err != nil {
			return err
		}
		var stale []string
		have := map[string]bool{}
		for _, prefix := range []string{ServiceKey(node, ""), CheckKey(node, "")} {
			err := tx.Scan(Table, prefix, func(e *store.Entry) error {
				v, ok := want[e.Key]
				switch {
				case !ok && !e.Deleted:
					stale = append(stale, e.Key)
				case ok && !e.Deleted && !force && bytes.Equal(v, e.Value):
					have[e.Key] = true
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if have[k] {
				continue
			}
			if _, err := tx.Put(Table, k, want[k], 0); err != nil {
				return err
			}
		}
		for _, k := range stale {
			if _, err := tx.Delete(Table, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("catalog: making the catalog agree with this node's registrations: %w", err)
	}
	return nil
}

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
