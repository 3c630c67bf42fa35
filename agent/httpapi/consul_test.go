package httpapi

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
)

// testServer serves the API over a fresh store on 127.0.0.1.
func testServer(t *testing.T) (*httptest.Server, *store.Store) {
	t.Helper()
	return testServerWith(t, nil)
}

// testServerWith serves the API over a fresh store on 127.0.0.1, with the
// roles set sets.
func testServerWith(t *testing.T, set func(c *Config)) (*httptest.Server, *store.Store) {
	t.Helper()
	srv, st, _ := testAPI(t, set)
	return srv, st
}

// testAPI is testServerWith, also returning the API it serves.
func testAPI(t *testing.T, set func(c *Config)) (*httptest.Server, *store.Store, *API) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	self := func() Self {
		return Self{NodeName: "node-a", NodeID: st.NodeID(), Datacenter: "dc1", Site: "shop-7",
			Version: "test", Addr: "127.0.0.1", GossipPort: 7946, RPCAddr: "127.0.0.1:7947"}
	}
	cfg := Config{Store: st, Self: self, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if set != nil {
		set(&cfg)
	}
	api := New(cfg)
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		api.Close()
		srv.Close()
		st.Close()
	})
	return srv, st, api
}

func consulClient(t *testing.T, srv *httptest.Server) *consul.Client {
	t.Helper()
	c, err := consul.NewClient(&consul.Config{Address: strings.TrimPrefix(srv.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConsulClientKV(t *testing.T) {
	srv, _ := testServer(t)
	kv := consulClient(t, srv).KV()

	if _, err := kv.Put(&consul.KVPair{Key: "app/timeout", Value: []byte("3s"), Flags: 42}, nil); err != nil {
		t.Fatalf("Put: %v", err)
	}
	p, meta, err := kv.Get("app/timeout", nil)
	if err != nil || p == nil || string(p.Value) != "3s" || p.Flags != 42 || meta.LastIndex != p.ModifyIndex || !meta.KnownLeader {
		t.Fatalf("Get = %+v, %+v, %v", p, meta, err)
	}
	if p, _, err := kv.Get("app/missing", nil); err != nil || p != nil {
		t.Fatalf("Get missing = %+v, %v", p, err)
	}

	for _, k := range []string{"app/db/host", "app/db/port", "app/name"} {
		if _, err := kv.Put(&consul.KVPair{Key: k, Value: []byte(k)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	pairs, _, err := kv.List("app/", nil)
	if err != nil || len(pairs) != 4 || pairs[0].Key != "app/db/host" {
		t.Fatalf("List = %v, %v", pairs, err)
	}
	keys, _, err := kv.Keys("app/", "/", nil)
	if want := []string{"app/db/", "app/name", "app/timeout"}; err != nil || !slices.Equal(keys, want) {
		t.Fatalf("Keys = %q, %v; want %q", keys, err, want)
	}

	// CAS succeeds with the current index, fails with 0 on an existing key.
	p, _, _ = kv.Get("app/name", nil)
	ok, _, err := kv.CAS(&consul.KVPair{Key: "app/name", Value: []byte("v2"), ModifyIndex: p.ModifyIndex}, nil)
	if err != nil || !ok {
		t.Fatalf("CAS with current index = %v, %v", ok, err)
	}
	ok, _, err = kv.CAS(&consul.KVPair{Key: "app/name", Value: []byte("v3"), ModifyIndex: 0}, nil)
	if err != nil || ok {
		t.Fatalf("CAS with index 0 on an existing key = %v, %v", ok, err)
	}
	ok, _, err = kv.CAS(&consul.KVPair{Key: "app/new", Value: []byte("v"), ModifyIndex: 0}, nil)
	if err != nil || !ok {
		t.Fatalf("CAS create-only on a new key = %v, %v", ok, err)
	}

	// DeleteCAS: a stale index fails, the current one deletes.
	p, _, _ = kv.Get("app/new", nil)
	if ok, _, err := kv.DeleteCAS(&consul.KVPair{Key: "app/new", ModifyIndex: p.ModifyIndex - 1}, nil); err != nil || ok {
		t.Fatalf("DeleteCAS stale = %v, %v", ok, err)
	}
	if ok, _, err := kv.DeleteCAS(&consul.KVPair{Key: "app/new", ModifyIndex: p.ModifyIndex}, nil); err != nil || !ok {
		t.Fatalf("DeleteCAS = %v, %v", ok, err)
	}

	if _, err := kv.DeleteTree("app/db/", nil); err != nil {
		t.Fatal(err)
	}
	keys, _, _ = kv.Keys("app/", "", nil)
	if want := []string{"app/name", "app/timeout"}; !slices.Equal(keys, want) {
		t.Fatalf("after DeleteTree keys = %q, want %q", keys, want)
	}
	if _, err := kv.Delete("app/timeout", nil); err != nil {
		t.Fatal(err)
	}
	if p, _, _ := kv.Get("app/timeout", nil); p != nil {
		t.Fatalf("deleted key still readable: %+v", p)
	}
}

func TestConsulClientBlockingQueries(t *testing.T) {
	srv, _ := testServer(t)
	kv := consulClient(t, srv).KV()
	if _, err := kv.Put(&consul.KVPair{Key: "cfg/a", Value: []byte("1")}, nil); err != nil {
		t.Fatal(err)
	}
	_, meta, err := kv.Get("cfg/a", nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("wakes on change", func(t *testing.T) {
		got := make(chan *consul.KVPair, 1)
		go func() {
			p, _, err := kv.Get("cfg/a", &consul.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: time.Minute})
			if err != nil {
				t.Error(err)
			}
			got <- p
		}()
		// An unrelated write does not end the query early with old data.
		if _, err := kv.Put(&consul.KVPair{Key: "other", Value: []byte("x")}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(&consul.KVPair{Key: "cfg/a", Value: []byte("2")}, nil); err != nil {
			t.Fatal(err)
		}
		if p := <-got; p == nil || string(p.Value) != "2" {
			t.Fatalf("blocking Get woke with %+v", p)
		}
	})

	t.Run("missing key wakes when created", func(t *testing.T) {
		p, meta, err := kv.Get("cfg/later", nil)
		if err != nil || p != nil || meta.LastIndex == 0 {
			t.Fatalf("Get missing = %+v, %+v, %v", p, meta, err)
		}
		got := make(chan *consul.KVPair, 1)
		go func() {
			p, _, err := kv.Get("cfg/later", &consul.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: time.Minute})
			if err != nil {
				t.Error(err)
			}
			got <- p
		}()
		if _, err := kv.Put(&consul.KVPair{Key: "cfg/later", Value: []byte("here")}, nil); err != nil {
			t.Fatal(err)
		}
		if p := <-got; p == nil || string(p.Value) != "here" {
			t.Fatalf("blocking Get on a missing key woke with %+v", p)
		}
	})

	t.Run("times out with index unchanged", func(t *testing.T) {
		_, meta, _ := kv.List("cfg/", nil)
		pairs, meta2, err := kv.List("cfg/", &consul.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 200 * time.Millisecond})
		if err != nil || meta2.LastIndex != meta.LastIndex || len(pairs) != 2 {
			t.Fatalf("timed-out List = %d pairs, index %d -> %d, %v", len(pairs), meta.LastIndex, meta2.LastIndex, err)
		}
	})
}

func TestConsulClientAgentSelf(t *testing.T) {
	srv, st := testServer(t)
	c := consulClient(t, srv)
	name, err := c.Agent().NodeName()
	if err != nil || name != "node-a" {
		t.Fatalf("NodeName = %q, %v", name, err)
	}
	self, err := c.Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	if self["Config"]["NodeID"] != st.NodeID() || self["Config"]["Datacenter"] != "dc1" {
		t.Fatalf("Self Config = %v", self["Config"])
	}
	tags, _ := self["Member"]["Tags"].(map[string]any)
	if tags["site"] != "shop-7" {
		t.Fatalf("Self Member tags = %v", tags)
	}
	leader, err := c.Status().Leader()
	if err != nil || leader != "127.0.0.1:7947" {
		t.Fatalf("Leader = %q, %v", leader, err)
	}
	peers, err := c.Status().Peers()
	if err != nil || len(peers) != 1 {
		t.Fatalf("Peers = %q, %v", peers, err)
	}
}

func TestOversizedPutIsRefused(t *testing.T) {
	srv, _ := testServer(t)
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(make([]byte, 600<<10))
		if chunked { // no Content-Length: the limit applies while reading
			body = io.MultiReader(body)
		}
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v1/kv/big", body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked=%v: status %d, want 413", chunked, resp.StatusCode)
		}
	}
	// The agent keeps serving, and the big value was not written.
	c := consulClient(t, srv)
	if p, _, err := c.KV().Get("big", nil); err != nil || p != nil {
		t.Fatalf("after 413: Get = %+v, %v", p, err)
	}
	if _, err := c.KV().Put(&consul.KVPair{Key: "small", Value: make([]byte, MaxValueSize)}, nil); err != nil {
		t.Fatalf("a value of exactly the limit: %v", err)
	}
}

// rttMesh is a fakeMesh that measures round trips.
type rttMesh struct {
	fakeMesh
	rtt map[string]time.Duration
}

func (m *rttMesh) RTT(node string) (time.Duration, bool) {
	d, ok := m.rtt[node]
	return d, ok
}

// nearServer serves web on node-a (this agent, shop-7, registered with a
// TTL check), node-b (shop-7, tag v2), node-c (shop-8), node-d (shop-9,
// meta version 2) and node-e (shop-9, never probed).
func nearServer(t *testing.T) (*consul.Client, string) {
	t.Helper()
	mesh := &rttMesh{
		fakeMesh: fakeMesh{members: []gossip.Member{
			member("node-a", "shop-7", gossip.StatusAlive), member("node-b", "shop-7", gossip.StatusAlive),
			member("node-c", "shop-8", gossip.StatusAlive), member("node-d", "shop-9", gossip.StatusAlive),
			member("node-e", "shop-9", gossip.StatusAlive),
		}},
		rtt: map[string]time.Duration{"node-a": 0, "node-b": time.Millisecond, "node-c": 5 * time.Millisecond, "node-d": 2 * time.Millisecond},
	}
	srv, st, _ := catalogServer(t, func(c *Config) { c.Mesh = mesh })
	c := consulClient(t, srv)
	err := c.Agent().ServiceRegister(&consul.AgentServiceRegistration{
		ID: "web-a", Name: "web", Tags: []string{"v1"}, Port: 8080,
		Meta:            map[string]string{"version": "1"},
		TaggedAddresses: map[string]consul.ServiceAddress{"wan": {Address: "192.0.2.1", Port: 80}},
		Check:           &consul.AgentServiceCheck{CheckID: "web-a-ttl", TTL: "30s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	in := func(node string, tags []string, meta map[string]string) catalog.Instance {
		return catalog.Instance{ID: "web-" + node[len(node)-1:], Name: "web", Tags: tags, Meta: meta, Port: 8081, Weights: catalog.DefaultWeights}
	}
	putRecords(t, st, map[string][]byte{
		catalog.ServiceKey("node-b", "web-b"): encodeInstance(t, in("node-b", []string{"v2"}, nil)),
		catalog.ServiceKey("node-c", "web-c"): encodeInstance(t, in("node-c", []string{"v1"}, nil)),
		catalog.ServiceKey("node-d", "web-d"): encodeInstance(t, in("node-d", []string{"v1"}, map[string]string{"version": "2"})),
		catalog.ServiceKey("node-e", "web-e"): encodeInstance(t, in("node-e", nil, nil)),
	})
	return c, srv.URL
}

func entryNodes(entries []*consul.ServiceEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Node.Node)
	}
	return out
}

// TestConsulClientQueries: the Consul client's near, filter, tag and
// passing options, and the catalog's node reads, decode as Consul's.
func TestConsulClientQueries(t *testing.T) {
	c, _ := nearServer(t)
	h := c.Health()

	all, _, err := h.Service("web", "", false, nil)
	if err != nil || !slices.Equal(entryNodes(all), []string{"node-a", "node-b", "node-c", "node-d", "node-e"}) {
		t.Fatalf("Health().Service(web) = %v, %v; want node order", entryNodes(all), err)
	}
	near, _, err := h.Service("web", "", false, &consul.QueryOptions{Near: "_agent"})
	if err != nil || !slices.Equal(entryNodes(near), []string{"node-a", "node-b", "node-d", "node-c", "node-e"}) {
		t.Fatalf("near _agent = %v, %v; want this node, its site, then by round trip, unmeasured last", entryNodes(near), err)
	}
	nearC, _, err := h.Service("web", "", false, &consul.QueryOptions{Near: "node-d"})
	if err != nil || !slices.Equal(entryNodes(nearC), []string{"node-d", "node-e", "node-a", "node-b", "node-c"}) {
		t.Fatalf("near node-d = %v, %v; want node-d, its site, then by round trip", entryNodes(nearC), err)
	}
	unknown, _, err := h.Service("web", "", false, &consul.QueryOptions{Near: "nowhere"})
	if err != nil || !slices.Equal(entryNodes(unknown), entryNodes(all)) {
		t.Fatalf("near an unknown node = %v, %v; want the usual order", entryNodes(unknown), err)
	}

	v2, _, err := h.Service("web", "", false, &consul.QueryOptions{Filter: `Service.Meta.version == "2"`})
	if err != nil || !slices.Equal(entryNodes(v2), []string{"node-d"}) {
		t.Fatalf("filter on meta = %v, %v; want node-d", entryNodes(v2), err)
	}
	tagged, _, err := h.ServiceMultipleTags("web", []string{"v1"}, false, &consul.QueryOptions{Filter: `Node.Meta.site != "shop-8"`})
	if err != nil || !slices.Equal(entryNodes(tagged), []string{"node-a", "node-d"}) {
		t.Fatalf("tag v1 and filter on site = %v, %v", entryNodes(tagged), err)
	}
	checks, _, err := h.Service("web", "", false, &consul.QueryOptions{Filter: `any Checks as c { c.Status == "critical" }`})
	if err != nil || !slices.Equal(entryNodes(checks), []string{"node-a"}) {
		t.Fatalf("filter on checks = %v, %v; want node-a, whose TTL check has not reported", entryNodes(checks), err)
	}
	passing, _, err := h.Service("web", "v1", true, &consul.QueryOptions{Near: "_agent"})
	if err != nil || !slices.Equal(entryNodes(passing), []string{"node-d", "node-c"}) {
		t.Fatalf("passing v1 near _agent = %v, %v", entryNodes(passing), err)
	}
	if _, _, err := h.Service("web", "", false, &consul.QueryOptions{Filter: "Service.Port =="}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("a bad filter: %v, want 400", err)
	}

	cs, _, err := c.Catalog().Service("web", "", &consul.QueryOptions{Filter: `ServiceMeta.version == "1"`})
	if err != nil || len(cs) != 1 || cs[0].ServiceID != "web-a" || cs[0].ServiceTaggedAddresses["wan"].Address != "192.0.2.1" ||
		cs[0].ServiceMeta["version"] != "1" || cs[0].NodeMeta["site"] != "shop-7" {
		t.Fatalf("Catalog().Service(web, meta version 1) = %+v, %v", cs, err)
	}
	names, _, err := c.Catalog().Services(&consul.QueryOptions{Filter: `NodeMeta.site == "shop-9"`})
	if err != nil || len(names) != 1 || !slices.Equal(names["web"], []string{"v1"}) {
		t.Fatalf("Catalog().Services(site shop-9) = %v, %v", names, err)
	}

	node, meta, err := c.Catalog().Node("node-d", nil)
	if err != nil || node == nil || node.Node.Node != "node-d" || node.Node.Meta["site"] != "shop-9" ||
		node.Services["web-d"] == nil || node.Services["web-d"].Meta["version"] != "2" || meta.LastIndex == 0 {
		t.Fatalf("Catalog().Node(node-d) = %+v, %v", node, err)
	}
	if node, _, err := c.Catalog().Node("nowhere", nil); err != nil || node != nil {
		t.Fatalf("Catalog().Node(nowhere) = %+v, %v; want nil", node, err)
	}
	list, _, err := c.Catalog().NodeServiceList("node-a", nil)
	if err != nil || list.Node.Node != "node-a" || len(list.Services) != 1 || list.Services[0].ID != "web-a" ||
		list.Services[0].TaggedAddresses["wan"].Port != 80 {
		t.Fatalf("Catalog().NodeServiceList(node-a) = %+v, %v", list, err)
	}
	dcs, err := c.Catalog().Datacenters()
	if err != nil || !slices.Equal(dcs, []string{"dc1"}) {
		t.Fatalf("Catalog().Datacenters() = %v, %v", dcs, err)
	}
	nodes, _, err := c.Catalog().Nodes(&consul.QueryOptions{Near: "_agent", Filter: `Meta.site != "shop-7"`})
	if err != nil || len(nodes) != 3 || nodes[0].Node != "node-d" || nodes[1].Node != "node-c" {
		t.Fatalf("Catalog().Nodes(near, filter) = %+v, %v", nodes, err)
	}
}

// TestConsulClientAgentHealth: the local instances' health, by name and
// by ID, with Consul's codes.
func TestConsulClientAgentHealth(t *testing.T) {
	c, base := nearServer(t)
	ag := c.Agent()
	text := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := text("/v1/agent/health/service/id/web-a?format=text"); code != http.StatusServiceUnavailable || body != "critical" {
		t.Fatalf("format=text: %d %q, want 503 critical", code, body)
	}
	if code, _ := text("/v1/agent/health/service/id/web-a?format=yaml"); code != http.StatusBadRequest {
		t.Fatalf("format=yaml: %d, want 400", code)
	}
	if code, _ := text("/v1/agent/health/service/id/web-a?index=1"); code != http.StatusBadRequest {
		t.Fatalf("index on agent health: %d, want 400", code)
	}
	status, infos, err := ag.AgentHealthServiceByName("web")
	if err != nil || status != consul.HealthCritical || len(infos) != 1 || infos[0].Service.ID != "web-a" ||
		len(infos[0].Checks) != 1 || infos[0].Checks[0].CheckID != "web-a-ttl" {
		t.Fatalf("AgentHealthServiceByName(web) = %s, %+v, %v; want only this node's web-a, critical", status, infos, err)
	}
	if err := ag.WarnTTL("web-a-ttl", "slow"); err != nil {
		t.Fatal(err)
	}
	status, info, err := ag.AgentHealthServiceByID("web-a")
	if err != nil || status != consul.HealthWarning || info == nil || info.AggregatedStatus != consul.HealthWarning {
		t.Fatalf("AgentHealthServiceByID(web-a) = %s, %+v, %v; want warning", status, info, err)
	}
	if err := ag.PassTTL("web-a-ttl", "ok"); err != nil {
		t.Fatal(err)
	}
	if status, _, err := ag.AgentHealthServiceByName("web"); err != nil || status != consul.HealthPassing {
		t.Fatalf("after PassTTL: %s, %v", status, err)
	}
	if code, body := text("/v1/agent/health/service/name/web?format=text"); code != http.StatusOK || body != "passing" {
		t.Fatalf("format=text after PassTTL: %d %q, want 200 passing", code, body)
	}
	services, err := ag.ServicesWithFilter(`Meta.version == "1" and "v1" in Tags`)
	if err != nil || len(services) != 1 || services["web-a"] == nil {
		t.Fatalf("ServicesWithFilter = %v, %v; want web-a", services, err)
	}
	if services, err := ag.ServicesWithFilter(`Service != "web"`); err != nil || len(services) != 0 {
		t.Fatalf("ServicesWithFilter(not web) = %v, %v; want none", services, err)
	}
	checks, err := ag.ChecksWithFilter(`Status == "passing" and ServiceName == "web"`)
	if err != nil || len(checks) != 1 || checks["web-a-ttl"] == nil {
		t.Fatalf("ChecksWithFilter = %v, %v; want web-a-ttl", checks, err)
	}
	if status, info, err := ag.AgentHealthServiceByID("nope"); err != nil || status != consul.HealthCritical || info != nil {
		t.Fatalf("AgentHealthServiceByID(nope) = %s, %+v, %v; want Consul's not found", status, info, err)
	}
	if status, infos, err := ag.AgentHealthServiceByName("nope"); err != nil || status != consul.HealthCritical || len(infos) != 0 {
		t.Fatalf("AgentHealthServiceByName(nope) = %s, %+v, %v; want Consul's not found", status, infos, err)
	}
}
