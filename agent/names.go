package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"

	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
)

// A node name belongs to the certificate it was first seen with. In the
// pinned trust modes a certificate is anyone's to make, so each node
// remembers which certificate (fingerprint) every name came with and
// refuses the name from any other: a device that took a dead node's name
// is not admitted. The bindings are local state (namesBucket), kept
// across restarts. `edgeplane force-leave -prune NAME` frees a name: it
// writes an entry to the replicated table tablePruned naming the
// certificate freed, and every node lets the next certificate take it.
// In the fleet-CA mode the CA vouches for names, as certificates name
// their node, and renewed certificates must keep working: no binding is
// kept.

// tablePruned holds the names freed by force-leave -prune: key the node
// name, value the fingerprint (hex) that no longer owns it.
var tablePruned = store.DeclareTable("pruned")

// namesBucket is the local bucket of name bindings: node name →
// fingerprint (hex).
const namesBucket = "names"

// errNameTaken refuses a name announced with another certificate than
// the one it is bound to.
var errNameTaken = errors.New("node name belongs to another certificate")

// nameBindings decides which certificate owns each node name. Admit runs
// under gossip's locks, so bindings live in memory and are written to the
// store in the background, from Start to Close.
type nameBindings struct {
	st      *store.Store
	enforce bool // pinned modes
	log     *slog.Logger

	mu    sync.Mutex
	bound map[string]string
	dirty map[string]string // bindings not yet on disk

	kick chan struct{}
	stop context.CancelFunc
	wg   sync.WaitGroup
}

func newNameBindings(st *store.Store, enforce bool, log *slog.Logger) (*nameBindings, error) {
	n := &nameBindings{st: st, enforce: enforce, log: log.With("component", "names"),
		bound: map[string]string{}, dirty: map[string]string{}, kick: make(chan struct{}, 1)}
	err := st.Local(namesBucket).Scan("", func(name string, fp []byte) error {
		n.bound[name] = string(fp)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("agent: reading node name bindings: %w", err)
	}
	return n, nil
}

// admit is gossip's Handlers.Admit: a node's alive message or merge is
// refused when its name is bound to another certificate than the one it
// announces, unless that binding was pruned.
func (n *nameBindings) admit(name string, tags map[string]string) error {
	if !n.enforce {
		return nil
	}
	fp := tags[gossip.MetaFingerprint]
	if fp == "" {
		return fmt.Errorf("%w: node %q announces no certificate", errNameTaken, name)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	cur, ok := n.bound[name]
	if ok && cur == fp {
		return nil
	}
	if ok && !n.pruned(name, cur) {
		return fmt.Errorf("%w: %q is bound to certificate %s, not %s; free the name with `edgeplane force-leave -prune %s`",
			errNameTaken, name, cur, fp, name)
	}
	n.bound[name], n.dirty[name] = fp, fp
	select {
	case n.kick <- struct{}{}:
	default:
	}
	return nil
}

// pruned reports whether force-leave -prune freed name from fp.
func (n *nameBindings) pruned(name, fp string) bool {
	var freed bool
	_ = n.st.View(func(tx *store.Tx) error {
		e, found, err := tx.Get(tablePruned, name)
		freed = found && !e.Deleted && string(e.Value) == fp
		return err
	})
	return freed
}

// prune frees name from the certificate it is bound to, on every node.
// A name bound to nothing here is left as it is.
func (n *nameBindings) prune(name string) error {
	n.mu.Lock()
	fp, ok := n.bound[name]
	n.mu.Unlock()
	if !ok {
		return nil
	}
	return n.st.Update(func(tx *store.Tx) error {
		_, err := tx.Put(tablePruned, name, []byte(fp), 0)
		return err
	})
}

// Start writes new bindings to the store in the background.
func (n *nameBindings) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	n.wg.Go(func() {
		for {
			select {
			case <-n.kick:
				n.flush()
			case <-ctx.Done():
				return
			}
		}
	})
	return nil
}

// Close writes what is left and stops.
func (n *nameBindings) Close() error {
	if n.stop != nil {
		n.stop()
		n.wg.Wait()
	}
	n.flush()
	return nil
}

// flush writes the new bindings in one transaction.
func (n *nameBindings) flush() {
	n.mu.Lock()
	dirty := n.dirty
	n.dirty = map[string]string{}
	n.mu.Unlock()
	if len(dirty) == 0 {
		return
	}
	err := n.st.Update(func(tx *store.Tx) error {
		for name, fp := range dirty {
			if err := tx.Local(namesBucket).Put(name, []byte(fp)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		n.log.Error("saving node name bindings", "err", err)
		n.mu.Lock()
		for name, fp := range dirty {
			if _, newer := n.dirty[name]; !newer {
				n.dirty[name] = fp
			}
		}
		n.mu.Unlock()
	}
}

// bindings returns a copy of the bindings, for tests and the debug view.
func (n *nameBindings) bindings() map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.bound)
}
