package agent

import (
	"context"
	"log/slog"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/gossip"
)

// maxReaped bounds the names of reaped members catalogMesh remembers.
const maxReaped = 4096

// catalogMesh keeps the catalog in step with membership:
//
//   - When the mesh reaps a failed member (reconnect_timeout passed), the
//     member's instances and checks become tombstones. Every node that
//     sees the reap writes them; the copies converge. A member that left
//     keeps its records (readers hide them), and one that is alive again
//     is never touched.
//   - When this node joins the mesh, at start or after it was alone, and
//     when a member this node reaped comes back (then that member most
//     likely reaped this node too), the catalog re-stamps this node's
//     records, so that they win over the tombstones others wrote of them
//     (catalog.Restamp).
type catalogMesh struct {
	cat  *catalog.Catalog
	mesh *gossip.Mesh
	log  *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}
}

func newCatalogMesh(cat *catalog.Catalog, mesh *gossip.Mesh, log *slog.Logger) *catalogMesh {
	return &catalogMesh{cat: cat, mesh: mesh, log: log}
}

// Start subscribes to membership events and follows them until Close.
func (m *catalogMesh) Start(context.Context) error {
	sub := m.mesh.Subscribe(256)
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan struct{})
	go func() {
		defer close(m.done)
		defer sub.Close()
		m.run(ctx, sub)
	}()
	return nil
}

// Close stops following membership and waits for it.
func (m *catalogMesh) Close() error {
	if m.cancel != nil {
		m.cancel()
		<-m.done
	}
	return nil
}

func (m *catalogMesh) run(ctx context.Context, sub *gossip.Subscription) {
	self := m.mesh.LocalMember().Name
	alone := true
	reaped := map[string]bool{}
	for {
		restamp := false
		if m.mesh.NumAlive() > 1 {
			restamp = alone
			alone = false
		} else {
			alone = true
		}
		if restamp {
			m.restamp("joined the mesh")
		}
		events, _, err := sub.Next(ctx)
		if err != nil {
			return
		}
		for _, e := range events {
			name := e.Member.Name
			switch {
			case name == self:
			case e.Type == gossip.EventReap && e.Member.Status == gossip.StatusFailed:
				m.removeReaped(name)
				if len(reaped) < maxReaped {
					reaped[name] = true
				}
			case e.Type == gossip.EventJoin && reaped[name]:
				delete(reaped, name)
				m.restamp("a member this node reaped came back")
			}
		}
	}
}

// removeReaped tombstones the records of a reaped member, unless it is
// alive again.
func (m *catalogMesh) removeReaped(name string) {
	if mem, ok := m.mesh.Member(name); ok && mem.Status != gossip.StatusFailed && mem.Status != gossip.StatusLeft {
		return
	}
	n, err := m.cat.RemoveNode(name)
	if err != nil {
		m.log.Error("removing the catalog records of a reaped node", "node", name, "err", err)
		return
	}
	if n > 0 {
		m.log.Info("removed the catalog records of a reaped node", "node", name, "records", n)
	}
}

func (m *catalogMesh) restamp(why string) {
	if err := m.cat.Restamp(); err != nil {
		m.log.Error("re-stamping this node's catalog records", "why", why, "err", err)
		return
	}
	m.log.Debug("re-stamped this node's catalog records", "why", why)
}
