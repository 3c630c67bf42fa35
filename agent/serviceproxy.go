package agent

import (
	"context"
	"log/slog"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/proxy"
	"github.com/edgeplane/edgeplane/agent/tracing"
	"github.com/edgeplane/edgeplane/gossip"
)

// newServiceProxy builds the service proxy (package proxy): the upstream
// listeners of the configured services, bound here, and the handler of
// the calls other agents carry to this node's instances, registered on
// the RPC server before it serves. It reads the catalog's replica and
// the membership; it calls the other agents with the RPC client.
func newServiceProxy(cfg config.Config, services *catalog.Catalog, rpc *rpcEndpoint, tracer *tracing.Tracer, log *slog.Logger) (*proxy.Proxy, error) {
	view := &proxy.CatalogView{
		Read: func(ctx context.Context) (catalog.Snapshot, error) { return services.Read(ctx, 0) },
		Members: func(node string) (string, string, bool) {
			m, ok := rpc.members.live(node)
			return m.Site, m.Tags[gossip.MetaRPC], ok
		},
		LocalService: services.Service,
	}
	p, err := proxy.New(proxy.Config{Self: cfg.NodeName, Upstreams: cfg.ProxyUpstreams(), Rules: cfg.ProxyRules(),
		View: view, Mesh: rpc.client, Tracer: tracer, Log: log})
	if err != nil {
		return nil, err
	}
	p.Serve(rpc.srv)
	return p, nil
}
