package agent

import (
	"log/slog"
	"net/http"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/watch"
)

// newWatches builds the exec watches of cfg (package watch). They read
// through api, the local HTTP API's handler, in process: the same JSON,
// ACL rules and blocking queries a local client gets, with no socket.
// They read at start from what the store holds, as Consul's watches do.
func newWatches(cfg config.Config, api http.Handler, log *slog.Logger) (*watch.Manager, error) {
	return watch.New(watch.Config{Source: watch.HandlerSource(api), Log: log.With("component", "watch")}, watchSpecs(cfg))
}

// watchSpecs returns the watches of cfg as package watch runs them.
func watchSpecs(cfg config.Config) []watch.Spec {
	specs := make([]watch.Spec, len(cfg.Watches))
	for i := range cfg.Watches {
		specs[i] = cfg.Watches[i].Spec()
	}
	return specs
}
