package agent

import (
	"sync/atomic"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/layers"
	"github.com/edgeplane/edgeplane/store"
)

// layered is the HTTP API's Layers role: the store, and the resolver of
// the layers and environment options, rebuilt when a reload changes them.
// The node name and site fill the placeholders as the agent started with
// them: they change only on restart.
type layered struct {
	*store.Store
	node, site string
	cur        atomic.Pointer[layers.Resolver]
}

// newLayered builds the resolver of cfg over st.
func newLayered(st *store.Store, cfg config.Config) (*layered, error) {
	l := &layered{Store: st, node: cfg.NodeName, site: cfg.Site}
	return l, l.apply(cfg)
}

// Resolver is the resolver in effect.
func (l *layered) Resolver() *layers.Resolver { return l.cur.Load() }

// apply builds the resolver of cfg's layers and environment and puts it
// in effect; on error the one in effect stays.
func (l *layered) apply(cfg config.Config) error {
	r, err := layers.New(cfg.Layers, layers.Names{Node: l.node, Site: l.site, Env: cfg.Environment})
	if err != nil {
		return err
	}
	l.cur.Store(r)
	return nil
}

// applyLayers is the live option of layers and environment: resolutions
// use the new layers from the next request on, and blocking resolves
// already waiting answer by the layers they started with. The keeper of
// last good values checks every key again: the layers say which schema
// governs a key.
func applyLayers(s *supervisor, running *config.Config, next config.Config) bool {
	if s.layers == nil {
		return false
	}
	if err := s.layers.apply(next); err != nil {
		s.log.Error("applying the reloaded layers", "err", err)
		return false
	}
	running.Layers, running.Environment = next.Layers, next.Environment
	if s.keeper != nil {
		if err := s.keeper.Rescan(); err != nil {
			s.log.Error("checking the typed keys under the reloaded layers", "err", err)
		}
	}
	return true
}
