package gossip

import (
	"fmt"

	"github.com/hashicorp/memberlist"
)

// Handlers plug the application into the mesh; each may be nil.
// memberlist calls them on its own goroutines, some with its locks held:
// they must not block or call back into the mesh.
type Handlers struct {
	// LocalState and MergeRemoteState take part in memberlist's push-pull
	// exchange (at a join, then every push-pull interval): LocalState
	// gives what this node sends, MergeRemoteState takes what a peer sent.
	// nil sends nothing.
	LocalState       func(join bool) []byte
	MergeRemoteState func(buf []byte, join bool)
	// OnMessage receives application payloads sent with Broadcast.
	OnMessage func(payload []byte)
	// Admit, when set, vets every other node's alive message and merge
	// with its name and metadata; an error refuses it (counted in
	// Refused). It runs under memberlist's locks: it must be fast and
	// must not call the mesh.
	Admit func(name string, tags map[string]string) error
}

// Handle sets the application's handlers. Call it before Start: the mesh
// calls them from Start on, and Start orders the assignment before every
// call. Handle panics after Start.
func (m *Mesh) Handle(h Handlers) {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	if m.started {
		panic("gossip: Handle called after Start")
	}
	m.handlers = h
}

// delegate connects memberlist to the mesh. memberlist calls some of these
// methods with its own locks held: none of them may call back into
// memberlist or block.
type delegate struct{ m *Mesh }

// NodeMeta returns the encoded metadata, checked against the limit in New.
func (d *delegate) NodeMeta(limit int) []byte { return *d.m.meta.Load() }

func (d *delegate) NotifyMsg(b []byte) { d.m.handleMessage(append([]byte(nil), b...)) }

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.m.bq.GetBroadcasts(overhead, limit)
}

func (d *delegate) LocalState(join bool) []byte {
	if d.m.handlers.LocalState == nil {
		return nil
	}
	return d.m.handlers.LocalState(join)
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	if d.m.handlers.MergeRemoteState != nil {
		d.m.handlers.MergeRemoteState(buf, join)
	}
}

func (d *delegate) NotifyJoin(n *memberlist.Node) {
	d.record(n, StatusAlive, EventJoin)
}

// NotifyLeave reports a node memberlist declared dead. memberlist does not
// say whether it left or failed, so a node that announced its leave intent
// (see Mesh.Leave) is left, any other failed.
func (d *delegate) NotifyLeave(n *memberlist.Node) {
	if old, ok := d.m.table.get(n.Name); ok && (old.Status == StatusLeaving || old.Status == StatusLeft) {
		d.record(n, StatusLeft, EventLeave)
	} else {
		d.record(n, StatusFailed, EventFailed)
	}
}

func (d *delegate) NotifyUpdate(n *memberlist.Node) {
	d.record(n, StatusAlive, EventUpdate)
}

func (d *delegate) record(n *memberlist.Node, st Status, ev EventType) {
	mem := memberOf(n, st)
	if !d.m.table.set(mem) {
		return
	}
	if n.Name != d.m.cfg.NodeName {
		d.m.log.Info("member "+ev.String(), "node", mem.Name, "addr", mem.Address(), "site", mem.Site)
		if st == StatusAlive {
			d.m.peerGained()
		}
	}
	d.m.events.publish(Event{Type: ev, Member: mem})
}

// NotifyMerge vetoes a push-pull merge (a join, or two partitions meeting)
// that would put two live nodes with one name or one id into the mesh. The
// joining side's Join fails with this error; the other side logs it.
func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if err := d.checkIdentity(p); err != nil {
			d.m.log.Error("refusing to merge with a node of conflicting identity", "err", err)
			return err
		}
	}
	return nil
}

// NotifyAlive refuses alive messages from a node whose metadata is
// malformed or whose identity conflicts with a live member.
func (d *delegate) NotifyAlive(p *memberlist.Node) error {
	if _, err := decodeMeta(p.Meta); err != nil {
		return fmt.Errorf("node %s: %w", p.Name, err)
	}
	return d.checkIdentity(p)
}

// checkIdentity reports a peer that reuses the name or the id of this node
// or of another live member.
func (d *delegate) checkIdentity(p *memberlist.Node) error {
	tags, err := decodeMeta(p.Meta)
	if err != nil {
		return fmt.Errorf("node %s: %w", p.Name, err)
	}
	id := tags[MetaID]
	if p.Name == d.m.cfg.NodeName && id != d.m.cfg.NodeID {
		return fmt.Errorf("%w: node name %q is already used by live node %s (id %s); the node at %s has id %s",
			ErrDuplicateNode, p.Name, p.Name, d.m.cfg.NodeID, addrOf(p), id)
	}
	if id == d.m.cfg.NodeID && p.Name != d.m.cfg.NodeName {
		return fmt.Errorf("%w: node id %s is already used by live node %q; %q at %s claims it too",
			ErrDuplicateNode, id, d.m.cfg.NodeName, p.Name, addrOf(p))
	}
	if admit := d.m.handlers.Admit; admit != nil && p.Name != d.m.cfg.NodeName {
		if err := admit(p.Name, tags); err != nil {
			d.m.refused.Add(1)
			return fmt.Errorf("node %s at %s: %w", p.Name, addrOf(p), err)
		}
	}
	for _, mem := range d.m.table.list() {
		if mem.Status != StatusAlive || mem.Name == d.m.cfg.NodeName {
			continue
		}
		if mem.Name == p.Name && mem.ID != id {
			return fmt.Errorf("%w: node name %q is already used by live node at %s (id %s); the node at %s has id %s",
				ErrDuplicateNode, p.Name, mem.Address(), mem.ID, addrOf(p), id)
		}
		if mem.ID == id && mem.Name != p.Name {
			return fmt.Errorf("%w: node id %s is already used by live node %q; %q at %s claims it too",
				ErrDuplicateNode, id, mem.Name, p.Name, addrOf(p))
		}
	}
	return nil
}

func addrOf(n *memberlist.Node) string { return n.Address() }

// NotifyConflict logs two nodes claiming one name from different
// addresses; memberlist keeps the first until it has been dead for
// DeadNodeReclaim.
func (d *delegate) NotifyConflict(existing, other *memberlist.Node) {
	d.m.log.Warn("node name conflict: two nodes claim one name",
		"node", existing.Name, "existing", existing.Address(), "other", other.Address())
}
