package agent

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/layers"
	"github.com/edgeplane/edgeplane/agent/render"
	"github.com/edgeplane/edgeplane/agent/schema"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
)

// renderCheckPrefix starts the ID of each render block's check on the
// agent's own service: edgeplane:render:<name>.
const renderCheckPrefix = "edgeplane:render:"

// renderMemberQueue is the size of the renderer's subscription to
// membership events; past it every block that reads the catalog renders.
const renderMemberQueue = 64

// renderSpecs returns the render blocks of cfg, and their names.
func renderSpecs(cfg config.Config) ([]render.Spec, map[string]bool, error) {
	specs := make([]render.Spec, len(cfg.Render))
	names := map[string]bool{}
	for i := range cfg.Render {
		s, err := cfg.Render[i].Spec()
		if err != nil {
			return nil, nil, fmt.Errorf("agent: render[%d]: %w", i, err)
		}
		specs[i] = s
		names[cmp.Or(s.Name, s.Destination)] = true
	}
	return specs, names, nil
}

// renderer is the render blocks (package render) as a component: a
// render.Manager over the store, read through the config centre's layers
// and schemas, whose blocks' health becomes checks of the agent's own
// service, and which renders the blocks that read the catalog again when
// membership changes (an instance's health includes its node's).
type renderer struct {
	*render.Manager
	mesh *gossip.Mesh
	cat  *catalog.Catalog
	log  *slog.Logger

	mu        sync.Mutex
	names     map[string]bool // the blocks' names
	started   bool            // Start ran
	following bool            // the Manager runs and membership is followed
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// newRenderer builds the render blocks of cfg (none, when it has none:
// the renderer then only removes the checks of blocks no longer
// configured).
// A node renders once it ever synced (its store's sync mark is set) or
// bootstrapped, or at once with render_before_sync or in dev mode; blocks
// that read the catalog also wait, after start, for settled (a push-pull
// with a peer merged) or render.SettleTimeout.
func newRenderer(cfg config.Config, st *store.Store, schemas *schema.Guard, resolver func() *layers.Resolver,
	cat *catalog.Catalog, mesh *gossip.Mesh, settled func() bool, log *slog.Logger) (*renderer, error) {
	specs, names, err := renderSpecs(cfg)
	if err != nil {
		return nil, err
	}
	m, err := render.New(render.Config{
		Store:  st,
		Specs:  specs,
		Layers: resolver,
		Vet:    schemas,
		Names:  render.Names{Node: cfg.NodeName, Site: cfg.Site, Tags: cfg.Tags},
		Members: func() []render.Member {
			ms := mesh.Members()
			out := make([]render.Member, len(ms))
			for i := range ms {
				n := httpapi.CatalogNode(&ms[i], cfg.Datacenter)
				out[i] = render.Member{Node: render.Node{ID: n.ID, Node: n.Node, Address: n.Address, Datacenter: n.Datacenter,
					TaggedAddresses: n.TaggedAddresses, Meta: n.Meta},
					Failed: ms[i].Status == gossip.StatusFailed, Left: ms[i].Status == gossip.StatusLeft}
			}
			return out
		},
		Synced:         func() bool { return st.SyncMark() != 0 },
		MembersSettled: settled,
		SyncedAt: func() time.Time {
			if m := st.SyncMark(); m != 0 {
				return m.Time()
			}
			return time.Time{}
		},
		RenderBeforeSync: cfg.RenderBeforeSync || cfg.Dev,
		Report: func(s render.Status) {
			if err := cat.SetAgentCheck(renderCheckPrefix+s.Name, "Render "+s.Destination, s.Health, s.Output); err != nil {
				log.Warn("setting a check of the agent's own service", "check", renderCheckPrefix+s.Name, "err", err)
			}
		},
		Log: log,
	})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return &renderer{Manager: m, mesh: mesh, cat: cat, names: names, log: log}, nil
}

// Start removes the checks of blocks no longer configured, renders every
// block and follows the store and membership.
func (r *renderer) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = true
	r.removeStaleChecks()
	return r.followLocked(ctx)
}

// Set applies reloaded render blocks (render.Manager.Set): new ones
// start, removed ones stop and their checks go, changed ones start
// again, unchanged ones go on.
func (r *renderer) Set(cfg config.Config) error {
	specs, names, err := renderSpecs(cfg)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.Manager.Set(specs); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	r.names = names
	if !r.started {
		return nil
	}
	r.removeStaleChecks()
	return r.followLocked(context.Background())
}

// removeStaleChecks removes the checks of render blocks no longer
// configured.
func (r *renderer) removeStaleChecks() {
	for _, ch := range r.cat.Checks() {
		name, ok := strings.CutPrefix(ch.ID, renderCheckPrefix)
		if ok && ch.Type == catalog.CheckTypeAgent && !r.names[name] {
			if err := r.cat.RemoveAgentCheck(ch.ID); err != nil {
				r.log.Warn("removing the check of a render block no longer configured", "check", ch.ID, "err", err)
			}
		}
	}
}

// followLocked starts the Manager and the following of membership, once
// there are blocks.
func (r *renderer) followLocked(ctx context.Context) error {
	if r.following || len(r.names) == 0 {
		return nil
	}
	sub := r.mesh.Subscribe(renderMemberQueue)
	if err := r.Manager.Start(ctx); err != nil {
		sub.Close()
		return err
	}
	r.following = true
	fctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Go(func() {
		defer sub.Close()
		for {
			if _, _, err := sub.Next(fctx); err != nil {
				return
			}
			r.MembersChanged()
		}
	})
	return nil
}

// Close stops following membership, then the blocks.
func (r *renderer) Close() error {
	r.mu.Lock()
	cancel := r.cancel
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		r.wg.Wait()
	}
	return r.Manager.Close()
}
