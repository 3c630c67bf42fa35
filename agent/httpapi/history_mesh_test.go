package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http/httptest"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/replica"
	"github.com/edgeplane/edgeplane/store"
)

// cutMesh is an in-process mesh of replicas over stores that keep
// history: RPCs call the peer's handlers through CBOR, gossip waits in a
// queue the test delivers, and a cut splits the nodes into groups that
// reach no one outside their own.
type cutMesh struct {
	t     *testing.T
	names []string
	st    map[string]*store.Store
	r     map[string]*replica.Replica
	group map[string]int
	queue []gossipMsg
}

type gossipMsg struct {
	to      string
	payload []byte
}

func newCutMesh(t *testing.T, n int) *cutMesh {
	m := &cutMesh{t: t, st: map[string]*store.Store{}, r: map[string]*replica.Replica{}, group: map[string]int{}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range n {
		name := fmt.Sprint("n", i)
		st, err := store.Open(t.TempDir(), store.Options{NoSync: true, HistoryVersions: 10})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		m.names = append(m.names, name)
		m.st[name] = st
		m.r[name] = replica.New(replica.Config{
			Store: st, Self: name, Log: quiet,
			Broadcast: func(_ string, payload []byte) {
				for _, to := range m.names {
					if to != name && m.group[to] == m.group[name] {
						m.queue = append(m.queue, gossipMsg{to, payload})
					}
				}
			},
			Caller: meshCaller{m: m, from: name},
			Peers:  func() []replica.Peer { return m.peers(name) },
		})
	}
	return m
}

func (m *cutMesh) peers(name string) []replica.Peer {
	var out []replica.Peer
	for _, n := range m.names {
		if n != name && m.group[n] == m.group[name] {
			out = append(out, replica.Peer{Name: n, Addr: n})
		}
	}
	return out
}

type meshCaller struct {
	m    *cutMesh
	from string
}

func (c meshCaller) Call(ctx context.Context, peer replica.Peer, method string, req, resp any) error {
	if c.m.group[peer.Name] != c.m.group[c.from] {
		return fmt.Errorf("%s cut off from %s", c.from, peer.Name)
	}
	r := c.m.r[peer.Name]
	b, err := cbor.Marshal(req)
	if err != nil {
		return err
	}
	var out any
	switch method {
	case replica.MethodPush:
		out, err = handle(ctx, b, r.HandlePush)
	case replica.MethodDigest:
		out, err = handle(ctx, b, r.HandleDigest)
	case replica.MethodKeys:
		out, err = handle(ctx, b, r.HandleKeys)
	case replica.MethodBuckets:
		out, err = handle(ctx, b, r.HandleBuckets)
	case replica.MethodEntries:
		out, err = handle(ctx, b, r.HandleEntries)
	case replica.MethodResolve:
		out, err = handle(ctx, b, r.HandleResolve)
	default:
		err = fmt.Errorf("no method %s", method)
	}
	if err != nil {
		return err
	}
	if b, err = cbor.Marshal(out); err != nil {
		return err
	}
	return cbor.Unmarshal(b, resp)
}

// handle decodes a request for a replica's handler and runs it.
func handle[Req, Resp any](ctx context.Context, b []byte, h func(context.Context, *Req) (*Resp, error)) (any, error) {
	var req Req
	if err := cbor.Unmarshal(b, &req); err != nil {
		return nil, err
	}
	return h(ctx, &req)
}

// settle syncs every pair that can reach each other and delivers the
// gossip queued, until every node holds the same records, within a
// bound.
func (m *cutMesh) settle() {
	m.t.Helper()
	for range 20 {
		for _, a := range m.names {
			for _, p := range m.peers(a) {
				if _, err := m.r[a].SyncWith(context.Background(), p); err != nil {
					m.t.Fatalf("sync %s with %s: %v", a, p.Name, err)
				}
			}
		}
		for len(m.queue) > 0 {
			g := m.queue[0]
			m.queue = m.queue[1:]
			m.r[g.to].HandleGossip(g.payload)
		}
		if m.converged() {
			return
		}
	}
	m.t.Fatal("the mesh did not settle")
}

// converged reports whether the nodes of each group hold the same value
// of every key.
func (m *cutMesh) converged() bool {
	seen := map[int]map[string]string{}
	for _, n := range m.names {
		es, _, err := m.st[n].List("")
		if err != nil {
			m.t.Fatal(err)
		}
		vals := map[string]string{}
		for _, e := range es {
			vals[e.Key] = string(e.Value)
		}
		if first, ok := seen[m.group[n]]; ok && !maps.Equal(first, vals) {
			return false
		}
		seen[m.group[n]] = vals
	}
	return true
}

func (m *cutMesh) value(node, key string) string {
	e, found, _, err := m.st[node].Get(key)
	if err != nil {
		m.t.Fatal(err)
	}
	if !found || e.Deleted {
		return ""
	}
	return string(e.Value)
}

// TestHistoryMeshPartition: two sides of a cut write one key; after the
// heal every node's history, read through its HTTP API, marks the same
// write lost, and kv rollback's request to it on a node of the winning
// side brings it back on every node.
func TestHistoryMeshPartition(t *testing.T) {
	m := newCutMesh(t, 4)
	clients := map[string]*api.Client{}
	for _, n := range m.names {
		a := New(Config{Store: m.st[n], History: m.st[n],
			Self: func() Self { return Self{NodeName: n, NodeID: m.st[n].NodeID(), Datacenter: "dc1"} },
			Log:  slog.New(slog.NewTextHandler(io.Discard, nil))})
		srv := httptest.NewServer(a)
		t.Cleanup(func() {
			a.Close()
			srv.Close()
		})
		c, err := api.NewClient(api.Config{Address: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		clients[n] = c
	}
	ctx := context.Background()
	if err := clients["n0"].KV().Put(ctx, api.KVPair{Key: "app/mode", Value: []byte("base")}); err != nil {
		t.Fatal(err)
	}
	m.settle()

	m.group["n2"], m.group["n3"] = 1, 1
	if err := clients["n1"].KV().Put(ctx, api.KVPair{Key: "app/mode", Value: []byte("left")}); err != nil {
		t.Fatal(err)
	}
	left, _, _, _ := m.st["n1"].Get("app/mode")
	m.st["n3"].Clock().Observe(left.Version) // the right side stamps later, seeing nothing
	if err := clients["n3"].KV().Put(ctx, api.KVPair{Key: "app/mode", Value: []byte("right")}); err != nil {
		t.Fatal(err)
	}
	m.settle()
	if m.value("n0", "app/mode") != "left" || m.value("n2", "app/mode") != "right" {
		t.Fatal("the sides do not hold their own writes during the cut")
	}

	m.group["n2"], m.group["n3"] = 0, 0
	m.settle()
	for _, n := range m.names {
		if got := m.value(n, "app/mode"); got != "right" {
			t.Fatalf("%s holds %q after the heal", n, got)
		}
		lost, err := clients[n].KV().History(ctx, "app/mode", api.HistoryOptions{Lost: true})
		if err != nil || len(lost) != 1 || lost[0].Version != uint64(left.Version) || string(lost[0].Value) != "left" ||
			lost[0].Origin != m.st["n1"].NodeID() {
			t.Fatalf("%s: lost %+v, %v; want the left write %v", n, lost, err, left.Version)
		}
	}

	res, err := clients["n2"].KV().Rollback(ctx, api.RollbackRequest{Key: "app/mode", To: fmt.Sprint(uint64(left.Version))})
	if err != nil || !res.Applied {
		t.Fatalf("rollback: %+v, %v", res, err)
	}
	m.settle()
	for _, n := range m.names {
		if got := m.value(n, "app/mode"); got != "left" {
			t.Fatalf("%s holds %q after the rollback", n, got)
		}
	}
	vs, err := clients["n2"].KV().History(ctx, "app/mode", api.HistoryOptions{Limit: 1})
	if err != nil || len(vs) != 1 || vs[0].RollbackOf != uint64(left.Version) {
		t.Fatalf("n2's newest version %+v, %v: want the rollback of %v", vs, err, left.Version)
	}
}
