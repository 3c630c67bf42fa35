// Package apitest runs an agent's local HTTP API inside a test: the real
// httpapi handler over a real store in a temporary directory, served on
// 127.0.0.1, with in-memory fakes for what a whole agent would add behind
// it (the mesh, RPC pings, replication state, join tokens). The service
// catalog is the real one over the store. Snapshots save and restore
// through the real store; reload answers 500 until the test sets one with
// Agent.SetReload. Tokens are not checked until the test sets a resolver
// with Agent.SetACL.
//
// One line starts it, and t.Cleanup stops it:
//
//	a := apitest.Start(t)
//	a.Store.Put("app/a", []byte("1"), 0)
//	pair, err := a.Client.KV().Get(ctx, "app/a")
//
// DeadAddress gives an address where no agent listens, for the paths where
// the agent is down.
package apitest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/jointoken"
	"github.com/edgeplane/edgeplane/agent/layers"
	"github.com/edgeplane/edgeplane/agent/logstream"
	"github.com/edgeplane/edgeplane/agent/render"
	"github.com/edgeplane/edgeplane/agent/schema"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
)

// Identity of the served agent, as /v1/agent/self shows it.
const (
	NodeName   = "node-a"
	Datacenter = "dc1"
	Site       = "site-1"
	// Environment fills {{env}} in the default layers the agent resolves
	// keys through (package layers).
	Environment = "prod"
	Version     = "test"
	RPCAddr     = "127.0.0.1:7947"
)

// Agent is the served API and what stands behind it.
type Agent struct {
	URL    string // http://127.0.0.1:port
	Addr   string // 127.0.0.1:port
	Store  *store.Store
	API    *httpapi.API
	Mesh   *Mesh
	Client *api.Client // a client of URL
	// Catalog is the real service catalog over Store, as node NodeName.
	Catalog *catalog.Catalog
	// Log is the agent's log, served by /v1/agent/monitor.
	Log *slog.Logger
	// RenderDest is the destination of the agent's one render block,
	// "app": "v=" and the key render/v, or "none".
	RenderDest string

	mu          sync.Mutex
	replication *api.Replication                                             // nil: derived from the store
	ping        func(context.Context, string) (string, time.Duration, error) // nil: the default
	reload      func() (httpapi.ReloadReport, error)                         // nil: not available
	acl         *acl.Resolver                                                // nil: ACLs off
	logLevel    string                                                       // set through the API
}

// Start serves the API over a fresh store in t.TempDir and stops it when
// the test ends. The mesh starts with the agent alone in it, alive.
func Start(t testing.TB) *Agent {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{HistoryVersions: 10})
	if err != nil {
		t.Fatal(err)
	}
	hub := logstream.New(slog.NewTextHandler(io.Discard, nil))
	a := &Agent{Store: st, Mesh: &Mesh{}, Log: slog.New(hub)}
	a.Mesh.SetMembers(Member(NodeName, Site, gossip.StatusAlive))
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if a.Catalog, err = catalog.New(catalog.Config{Store: st, Node: NodeName, Log: quiet}); err != nil {
		t.Fatal(err)
	}
	if err := a.Catalog.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	resolver, err := layers.New(layers.Default, layers.Names{Node: NodeName, Site: Site, Env: Environment})
	if err != nil {
		t.Fatal(err)
	}
	schemas := schema.NewGuard(st, resolver.Strip)
	keeper := schema.NewKeeper(st, schemas, nil, quiet)
	if err := keeper.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.RenderDest = filepath.Join(t.TempDir(), "app.conf")
	renders, err := render.New(render.Config{Store: st, Vet: schemas, Log: quiet, Specs: []render.Spec{
		{Name: "app", Template: `v={{keyOrDefault "render/v" "none"}}`, Destination: a.RenderDest}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := renders.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.API = httpapi.New(httpapi.Config{
		Store: st, Self: a.self, Mesh: a.Mesh, Snapshots: snapshots{st}, Compactor: snapshots{st},
		Replication: roles{a}, Ping: roles{a}, Reload: roles{a}, Revoke: a.Mesh, JoinTokens: roles{a},
		Monitor: hub, LogLevel: roles{a}, Catalog: a.Catalog, ACL: a.resolver, Log: quiet,
		Layers: storeLayers{st, resolver}, Schemas: schemas, History: st, Renders: renders,
	})
	srv := httptest.NewServer(a.API) // listens on 127.0.0.1
	t.Cleanup(func() {
		a.API.Close()
		srv.Close()
		keeper.Close()
		renders.Close()
		a.Catalog.Close()
		st.Close()
	})
	a.URL, a.Addr = srv.URL, srv.Listener.Addr().String()
	if a.Client, err = api.NewClient(api.Config{Address: a.URL}); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *Agent) self() httpapi.Self {
	return httpapi.Self{
		NodeName: NodeName, NodeID: a.Store.NodeID(), Datacenter: Datacenter, Site: Site,
		Version: Version, Revision: "abc123", Addr: "127.0.0.1", GossipPort: 7946, RPCAddr: RPCAddr,
		Stats: map[string]map[string]string{
			"rpc":   {"addr": RPCAddr, "trust": "pinned", "insecure_mesh": "false"},
			"store": {"index": strconv.FormatUint(a.Store.Index(), 10)},
		},
	}
}

// SetReplication makes /v1/edgeplane/replication answer r. Until it is
// called the answer holds the store's index and no peers.
func (a *Agent) SetReplication(r api.Replication) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.replication = &r
}

// snapshots saves and restores through the real store.
type snapshots struct{ st *store.Store }

func (s snapshots) Save(w io.Writer) error { _, err := s.st.Snapshot(w); return err }

func (s snapshots) Compact(ctx context.Context) (api.CompactResult, error) {
	res, err := s.st.Compact(ctx)
	return api.CompactResult{Before: res.Before, After: res.After}, err
}

func (s snapshots) Restore(r io.Reader) (httpapi.RestoreResult, error) {
	n, err := s.st.Restore(r)
	return httpapi.RestoreResult{Changed: n}, err
}

// roles plays the API's replication, ping and reload roles from what the
// test set on the Agent.
type roles struct{ a *Agent }

func (r roles) State() api.Replication {
	a := r.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.replication != nil {
		return *a.replication
	}
	return api.Replication{
		Local: map[string]string{"index": strconv.FormatUint(a.Store.Index(), 10)},
		Peers: []api.ReplicationPeer{}, Quarantine: []api.QuarantinedRecord{},
	}
}

// SetPing replaces how /v1/edgeplane/rpc/ping/<node> answers. By default a
// member of the mesh that is alive answers from RPCAddr in a millisecond,
// and any other node is unknown.
func (a *Agent) SetPing(p func(ctx context.Context, node string) (addr string, rtt time.Duration, err error)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ping = p
}

func (r roles) Ping(ctx context.Context, node string) (string, time.Duration, error) {
	a := r.a
	a.mu.Lock()
	p := a.ping
	a.mu.Unlock()
	if p != nil {
		return p(ctx, node)
	}
	for _, m := range a.Mesh.Members() {
		if m.Name == node && m.Status == gossip.StatusAlive {
			return RPCAddr, time.Millisecond, nil
		}
	}
	return "", 0, httpapi.ErrUnknownNode
}

// JoinToken answers GET /v1/agent/join-token as an agent does: with the
// mesh's key in use (see Mesh.EnableEncryption) and the seeds asked for,
// else this agent's gossip address, 127.0.0.1:7946; without encryption,
// with httpapi.ErrNoJoinToken.
func (r roles) JoinToken(seeds []string) (jointoken.Token, error) {
	key := r.a.Mesh.primaryKey()
	if key == "" {
		return jointoken.Token{}, fmt.Errorf("%w: this mesh is not authenticated, so there is no secret to hand out; set encrypt first", httpapi.ErrNoJoinToken)
	}
	if len(seeds) == 0 {
		seeds = []string{"127.0.0.1:7946"}
	}
	return jointoken.Token{Key: key, Seeds: seeds}, nil
}

// SetReload sets what PUT /v1/agent/reload runs. Until it is called the
// endpoint answers 500: reload is not available.
func (a *Agent) SetReload(fn func() (httpapi.ReloadReport, error)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reload = fn
}

func (r roles) Reload() (httpapi.ReloadReport, error) {
	r.a.mu.Lock()
	fn := r.a.reload
	r.a.mu.Unlock()
	if fn == nil {
		return httpapi.ReloadReport{}, errors.New("reload is not available")
	}
	return fn()
}

// SetACL makes the API check tokens against r from the next request on;
// nil turns ACLs off again, as they are until it is called.
func (a *Agent) SetACL(r *acl.Resolver) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.acl = r
}

func (a *Agent) resolver() *acl.Resolver {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acl
}

// DeadAddress returns a 127.0.0.1 address where nothing listens: a port
// that was free a moment ago.
func DeadAddress(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func (r roles) SetLogLevel(level string) error {
	if _, err := config.ParseLogLevel(level); err != nil {
		return err
	}
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	r.a.logLevel = strings.ToLower(level)
	return nil
}

// LogLevel returns the level last set through the API ("" if none).
func (a *Agent) LogLevel() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logLevel
}

// storeLayers is the Layers role: the store, and the default layers of
// the agent.
type storeLayers struct {
	*store.Store
	r *layers.Resolver
}

func (l storeLayers) Resolver() *layers.Resolver { return l.r }
