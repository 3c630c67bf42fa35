package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	consul "github.com/hashicorp/consul/api"

	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
)

type fakeMesh struct {
	members []gossip.Member
	joined  []string
	keyring []gossip.KeyringReply
}

func (f *fakeMesh) Members() []gossip.Member { return f.members }
func (f *fakeMesh) Join(addrs []string) (int, error) {
	f.joined = append(f.joined, addrs...)
	switch addrs[0] {
	case "bad":
		return 0, errors.New("no route")
	case "malformed":
		return 0, fmt.Errorf("%w %q: port", gossip.ErrBadAddress, addrs[0])
	case "silent":
		return 0, fmt.Errorf("%w: connection refused", gossip.ErrNoAnswer)
	case "otherkey":
		return 0, fmt.Errorf("%w (EOF)", gossip.ErrWrongKey)
	case "unresolvable":
		return 0, fmt.Errorf("resolving: %w", &net.DNSError{Err: "no such host", Name: "unresolvable", IsNotFound: true})
	}
	return len(addrs), nil
}
func (f *fakeMesh) Leave() error { return nil }
func (f *fakeMesh) ForceLeave(node string, prune bool) error {
	if node != "gone" {
		return errors.New("not failed")
	}
	return nil
}
func (f *fakeMesh) Keyring(ctx context.Context, op, key string) ([]gossip.KeyringReply, error) {
	return f.keyring, nil
}

// withMesh serves the API with mesh as its membership.
func withMesh(t *testing.T, mesh Mesh) (*httptest.Server, *store.Store) {
	t.Helper()
	return testServerWith(t, func(c *Config) { c.Mesh = mesh })
}

func member(name, site string, st gossip.Status) gossip.Member {
	return gossip.Member{
		Name: name, ID: "id-" + name, Addr: net.ParseIP("127.0.0.1"), Port: 7946, Site: site, Status: st,
		Tags: map[string]string{gossip.MetaID: "id-" + name, gossip.MetaSite: site, gossip.MetaVersion: "1.0"},
	}
}

func TestConsulClientMembersAndCatalog(t *testing.T) {
	mesh := &fakeMesh{members: []gossip.Member{
		member("a", "hq", gossip.StatusAlive),
		member("b", "shop-1", gossip.StatusSuspect),
		member("c", "shop-2", gossip.StatusFailed),
		member("d", "shop-3", gossip.StatusLeft),
	}}
	srv, _ := withMesh(t, mesh)
	c := consulClient(t, srv)

	members, err := c.Agent().Members(false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"a": 1, "b": 1, "c": 4, "d": 3} // Serf's numbers; suspect counts as alive
	if len(members) != len(want) {
		t.Fatalf("Members = %d, want %d", len(members), len(want))
	}
	for _, m := range members {
		if m.Status != want[m.Name] || m.Tags["site"] == "" || m.Addr != "127.0.0.1" || m.Port != 7946 {
			t.Errorf("member %+v", m)
		}
	}

	nodes, meta, err := c.Catalog().Nodes(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 3 || meta.LastIndex == 0 { // the left node is not in the catalog
		t.Fatalf("catalog nodes = %+v", nodes)
	}
	for _, n := range nodes {
		if n.Meta["site"] == "" || n.ID != "id-"+n.Node || n.Datacenter != "dc1" || n.Address != "127.0.0.1" {
			t.Errorf("catalog node %+v", n)
		}
	}

	if err := c.Agent().Join("10.0.0.1:7946", false); err != nil {
		t.Fatal(err)
	}
	if err := c.Agent().Join("bad", false); err == nil {
		t.Fatal("a failed join answered success")
	}
	if err := c.Agent().ForceLeave("gone"); err != nil {
		t.Fatal(err)
	}
	if err := c.Agent().ForceLeave("a"); err == nil || !strings.Contains(err.Error(), "not failed") {
		t.Fatalf("force-leave of a live node: %v", err)
	}
}

func TestConsulClientKeyring(t *testing.T) {
	mesh := &fakeMesh{keyring: []gossip.KeyringReply{
		{Node: "a", Keys: []string{"k1", "k2"}, Primary: "k1"},
		{Node: "b", Keys: []string{"k1"}, Primary: "k1", Error: "boom"},
	}}
	srv, _ := withMesh(t, mesh)
	op := consulClient(t, srv).Operator()
	list, err := op.KeyringList(nil)
	if err != nil || len(list) != 1 || list[0].Keys["k1"] != 2 || list[0].NumNodes != 2 {
		t.Fatalf("KeyringList = %+v, %v", list, err)
	}
	if err := op.KeyringInstall("k3", nil); err == nil {
		t.Fatal("an install that failed on a node answered success")
	}
}

func TestJoinStatus(t *testing.T) {
	srv, _ := withMesh(t, &fakeMesh{})
	for addr, want := range map[string]int{
		"127.0.0.1:7946": 200, "malformed": 400, "silent": 502, "otherkey": 502, "bad": 500, "unresolvable": 400,
	} {
		resp, body := do(t, "PUT", srv.URL+"/v1/agent/join/"+addr, "")
		if resp.StatusCode != want {
			t.Errorf("join %s = %d %q, want %d", addr, resp.StatusCode, body, want)
		}
	}
}

func TestOtherDatacenterHasNoPath(t *testing.T) {
	srv, st := withMesh(t, &fakeMesh{members: []gossip.Member{member("node-a", "s", gossip.StatusAlive)}})
	if _, err := st.Put("k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ method, path string }{
		{"GET", "/v1/kv/k?dc=dc2"},
		{"GET", "/v1/kv/?recurse&dc=dc2"},
		{"GET", "/v1/kv/?keys&dc=DC1"},
		{"PUT", "/v1/kv/k?dc=dc2"},
		{"DELETE", "/v1/kv/k?dc=dc2"},
		{"GET", "/v1/catalog/nodes?dc=dc2"},
	} {
		resp, body := do(t, tt.method, srv.URL+tt.path, "other")
		if resp.StatusCode != 500 || body != "No path to datacenter" {
			t.Errorf("%s %s = %d %q, want 500 %q", tt.method, tt.path, resp.StatusCode, body, "No path to datacenter")
		}
	}
	if e, _, _, _ := st.Get("k"); string(e.Value) != "v" || e.Deleted {
		t.Fatalf("a write for another datacenter changed the key: %+v", e)
	}
	for _, path := range []string{"/v1/kv/k?dc=dc1&raw", "/v1/kv/k?dc=&raw", "/v1/catalog/nodes?dc=dc1"} {
		if resp, body := do(t, "GET", srv.URL+path, ""); resp.StatusCode != 200 {
			t.Errorf("GET %s = %d %q", path, resp.StatusCode, body)
		}
	}
	// The Consul client reports Consul's error.
	kv := consulClient(t, srv).KV()
	if _, _, err := kv.Get("k", &consul.QueryOptions{Datacenter: "dc2"}); err == nil || !strings.Contains(err.Error(), "No path to datacenter") {
		t.Errorf("Consul client Get in dc2: %v", err)
	}
	if p, _, err := kv.Get("k", &consul.QueryOptions{Datacenter: "dc1"}); err != nil || p == nil || string(p.Value) != "v" {
		t.Errorf("Consul client Get in dc1 = %+v, %v", p, err)
	}
}

// TestCatalogNodesShowUserTagsOnly: node meta is the user's tags and the
// site; the mesh's own tags (RPC address, certificate, boot nonce,
// version, id) stay out. A member without tags is served too.
func TestCatalogNodesShowUserTagsOnly(t *testing.T) {
	tagged := member("a", "hq", gossip.StatusAlive)
	tagged.Tags[gossip.MetaRPC] = "127.0.0.1:7947"
	tagged.Tags[gossip.MetaFingerprint] = strings.Repeat("ab", 32)
	tagged.Tags[gossip.MetaBoot] = "nonce"
	tagged.Tags["rack"] = "r1"
	bare := member("b", "", gossip.StatusAlive)
	bare.Tags = nil
	srv, _ := withMesh(t, &fakeMesh{members: []gossip.Member{tagged, bare}})
	c := consulClient(t, srv)
	nodes, _, err := c.Catalog().Nodes(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 {
		t.Fatalf("catalog nodes = %+v", nodes)
	}
	if got := nodes[0].Meta; len(got) != 2 || got["rack"] != "r1" || got["site"] != "hq" {
		t.Errorf("node a's meta = %v, want rack and site only", got)
	}
	members, err := c.Agent().Members(false)
	if err != nil || len(members) != 2 {
		t.Fatalf("members = %v, %v", members, err)
	}
}
