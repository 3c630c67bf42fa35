package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
)

// putRecords writes records into the catalog table as another node's
// replica would hold them.
func putRecords(t testing.TB, st *store.Store, recs map[string][]byte) {
	t.Helper()
	err := st.Update(func(tx *store.Tx) error {
		for k, v := range recs {
			if _, err := tx.Put(catalog.Table, k, v, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func encodeInstance(t testing.TB, in catalog.Instance) []byte {
	t.Helper()
	b, err := catalog.EncodeInstance(&in)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encodeCheck(t testing.TB, c catalog.Check) []byte {
	t.Helper()
	b, err := catalog.EncodeCheck(&c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// discoveryServer serves node-a's catalog, node-b (failed) with web-2,
// node-c (left) with web-3 and an unknown node-x with web-4, and forged
// records that do not decode.
func discoveryServer(t *testing.T) (*consul.Client, string) {
	t.Helper()
	mesh := &fakeMesh{members: []gossip.Member{
		member("node-a", "shop-7", gossip.StatusAlive),
		member("node-b", "shop-8", gossip.StatusFailed),
		member("node-c", "shop-9", gossip.StatusLeft),
	}}
	srv, st, _ := catalogServer(t, func(c *Config) { c.Mesh = mesh })
	c := consulClient(t, srv)
	err := c.Agent().ServiceRegister(&consul.AgentServiceRegistration{
		ID: "web-1", Name: "web", Tags: []string{"v1", "edge"}, Port: 8080, Address: "127.0.0.1",
		Meta:            map[string]string{"version": "1"},
		TaggedAddresses: map[string]consul.ServiceAddress{"lan": {Address: "127.0.0.1", Port: 8080}},
		Check:           &consul.AgentServiceCheck{CheckID: "web-1-ttl", TTL: "30s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := func(id string) catalog.Instance {
		return catalog.Instance{ID: id, Name: "web", Tags: []string{"v2"}, Port: 8081, Weights: catalog.DefaultWeights}
	}
	putRecords(t, st, map[string][]byte{
		catalog.ServiceKey("node-b", "web-2"): encodeInstance(t, w("web-2")),
		catalog.CheckKey("node-b", "web-2-ttl"): encodeCheck(t, catalog.Check{ID: "web-2-ttl", Name: "ttl",
			ServiceID: "web-2", Type: catalog.CheckTypeTTL, Status: catalog.StatusPassing}),
		catalog.ServiceKey("node-c", "web-3"): encodeInstance(t, w("web-3")),
		catalog.ServiceKey("node-x", "web-4"): encodeInstance(t, w("web-4")),
		catalog.ServiceKey("node-b", "junk"):  []byte{0xff, 0x00, 0x13},
		catalog.ServiceKey("node-b", "other"): encodeInstance(t, w("web-5")), // ID not the key's
		catalog.CheckKey("node-b", "orphan"): encodeCheck(t, catalog.Check{ID: "orphan", Name: "o",
			ServiceID: "nope", Type: catalog.CheckTypeTTL, Status: catalog.StatusCritical}),
		"svc/no-id": encodeInstance(t, w("web-6")),
	})
	return c, srv.URL
}

func TestConsulClientDiscovery(t *testing.T) {
	c, _ := discoveryServer(t)

	services, meta, err := c.Catalog().Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(services) != 1 || !slices.Equal(services["web"], []string{"edge", "v1", "v2"}) || meta.LastIndex == 0 {
		t.Fatalf("Services = %v (index %d), want web: edge v1 v2 from node-a and node-b only", services, meta.LastIndex)
	}

	cs, _, err := c.Catalog().Service("web", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Node != "node-a" || cs[0].ServiceID != "web-1" || cs[0].ServiceMeta["version"] != "1" ||
		cs[0].ServiceTaggedAddresses["lan"].Port != 8080 || cs[0].ServicePort != 8080 || cs[0].Datacenter != "dc1" ||
		cs[0].NodeMeta["site"] != "shop-7" || cs[0].ModifyIndex == 0 {
		t.Fatalf("Catalog().Service(web, v1) = %+v", cs)
	}
	all, _, err := c.Catalog().Service("web", "", &consul.QueryOptions{NodeMeta: map[string]string{"site": "shop-8"}})
	if err != nil || len(all) != 1 || all[0].ServiceID != "web-2" {
		t.Fatalf("Catalog().Service(web, node-meta site:shop-8) = %+v, %v", all, err)
	}

	// The TTL check has not reported: critical, as is failed node-b's serfHealth.
	entries, _, err := c.Health().Service("web", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Node.Node != "node-a" || entries[1].Node.Node != "node-b" {
		t.Fatalf("Health().Service(web) = %d entries, want node-a's and node-b's", len(entries))
	}
	if s := entries[1].Checks.AggregatedStatus(); s != consul.HealthCritical {
		t.Fatalf("node-b's instance is %s, want critical through serfHealth", s)
	}
	if ch := entries[1].Checks[0]; ch.CheckID != "serfHealth" || ch.Status != consul.HealthCritical || ch.Name != "Serf Health Status" {
		t.Fatalf("node-b's first check = %+v, want serfHealth critical", ch)
	}

	if err := c.Agent().PassTTL("web-1-ttl", "ok"); err != nil {
		t.Fatal(err)
	}
	passing, _, err := c.Health().Service("web", "", true, nil)
	if err != nil || len(passing) != 1 || passing[0].Service.ID != "web-1" || len(passing[0].Checks) != 2 {
		t.Fatalf("Health().Service(web, passing) = %+v, %v; want web-1 with serfHealth and its TTL check", passing, err)
	}

	critical, _, err := c.Health().State("critical", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(critical) != 1 || critical[0].Node != "node-b" || critical[0].CheckID != "serfHealth" {
		t.Fatalf("Health().State(critical) = %+v, want node-b's serfHealth only", critical)
	}
	nodeChecks, _, err := c.Health().Node("node-b", nil)
	if err != nil || len(nodeChecks) != 2 {
		t.Fatalf("Health().Node(node-b) = %+v, %v; want serfHealth and web-2-ttl", nodeChecks, err)
	}
	left, _, err := c.Health().Node("node-c", nil)
	if err != nil || len(left) != 0 {
		t.Fatalf("Health().Node(node-c) of a left node = %+v, %v; want none", left, err)
	}
	checks, _, err := c.Health().Checks("web", nil)
	if err != nil || len(checks) != 2 {
		t.Fatalf("Health().Checks(web) = %+v, %v; want web-1-ttl and web-2-ttl", checks, err)
	}
}

// TestDiscoveryBlockingQuery: a blocking read wakes when a check's status
// changes, and its index rises.
func TestDiscoveryBlockingQuery(t *testing.T) {
	c, _ := discoveryServer(t)
	_, meta, err := c.Health().Service("web", "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		entries []*consul.ServiceEntry
		meta    *consul.QueryMeta
		err     error
	}
	done := make(chan result, 1)
	go func() {
		e, m, err := c.Health().Service("web", "", true, &consul.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second})
		done <- result{e, m, err}
	}()
	if err := c.Agent().PassTTL("web-1-ttl", "ok"); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || len(r.entries) != 1 || r.meta.LastIndex <= meta.LastIndex {
			t.Fatalf("blocking Health().Service = %d entries, index %d after %d, %v; want web-1 passing at a higher index",
				len(r.entries), r.meta.LastIndex, meta.LastIndex, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the blocking query did not wake on the check's change")
	}

	// Nothing changes: the query waits out its wait and keeps its index.
	_, m, err := c.Health().Service("web", "", false, &consul.QueryOptions{WaitIndex: meta.LastIndex + 1000, WaitTime: 50 * time.Millisecond})
	if err != nil || m.LastIndex == 0 || m.LastIndex > meta.LastIndex+1000 {
		t.Fatalf("timed-out blocking query: index %d, %v", m.LastIndex, err)
	}
}

func TestDiscoveryRefusals(t *testing.T) {
	c, base := discoveryServer(t)
	for _, path := range []string{
		"/v1/health/service/web?filter=Service.Port%20==",
		"/v1/health/service/web?filter=Nope==1",
		"/v1/health/service/web?filter=Service%20is%20empty", // go-bexpr panics on it
		"/v1/health/service/web?filter=" + strings.Repeat("a", maxFilterLen+1),
		"/v1/catalog/services?near=_agent",
		"/v1/health/node/node-a?near=_agent",
		"/v1/catalog/services?ns=team",
		"/v1/health/service/web?peer=other",
		"/v1/health/state/any?tag=v1",
		"/v1/health/state/nonsense",
		"/v1/catalog/service/web?node-meta=nocolon",
		"/v1/health/service/web?passing=maybe",
		"/v1/health/node/node-a?whatever=1",
	} {
		if code := getStatus(t, base+path); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", path, code)
		}
	}
	if code := getStatus(t, base+"/v1/catalog/services?stale&consistent&cached&pretty&filter="); code != http.StatusOK {
		t.Errorf("accepted parameters: %d, want 200", code)
	}
	if code := getStatus(t, base+"/v1/catalog/services?dc=elsewhere"); code != http.StatusInternalServerError {
		t.Errorf("dc=elsewhere: %d, want Consul's 500 no path to datacenter", code)
	}
	if _, _, err := c.Catalog().Services(&consul.QueryOptions{Filter: "Nope == web"}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("Catalog().Services with a filter on no field: %v, want 400", err)
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Discovery reads ask service:read on the name, and listings leave out
// what the token may not read; no agent access is needed.
func TestDiscoveryACL(t *testing.T) {
	const (
		webToken = "web-token-0123456789" // reads web only
		allToken = "all-token-0123456789" // writes every service
	)
	res, err := acl.NewResolver(acl.Config{
		DefaultAllow: false,
		Tokens: []acl.Token{
			{Secret: webToken, Description: "web", Policy: acl.Compile(acl.Rules{Service: map[string]acl.Access{"web": acl.Read}})},
			{Secret: allToken, Description: "all", Policy: acl.Compile(acl.Rules{ServicePrefix: map[string]acl.Access{"": acl.Write}})},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mesh := &fakeMesh{members: []gossip.Member{member("node-a", "shop-7", gossip.StatusAlive)}}
	srv, _, _ := catalogServer(t, func(c *Config) {
		c.Mesh = mesh
		c.ACL = func() *acl.Resolver { return res }
	})
	for _, body := range []string{`{"Name":"web","Check":{"TTL":"1m"}}`, `{"Name":"db","Check":{"TTL":"1m"}}`} {
		if code, _ := send(t, http.MethodPut, srv.URL+"/v1/agent/service/register", "X-Consul-Token", allToken, body); code != http.StatusOK {
			t.Fatalf("register %s: %d", body, code)
		}
	}
	for _, tc := range []struct {
		token, path string
		want        int
	}{
		{webToken, "/v1/health/service/web", http.StatusOK},
		{webToken, "/v1/catalog/service/web", http.StatusOK},
		{webToken, "/v1/health/service/db", http.StatusForbidden},
		{webToken, "/v1/health/checks/db", http.StatusForbidden},
		{"", "/v1/catalog/service/web", http.StatusForbidden},
	} {
		if code, _ := send(t, http.MethodGet, srv.URL+tc.path, "X-Consul-Token", tc.token, ""); code != tc.want {
			t.Errorf("%q GET %s: %d, want %d", tc.token, tc.path, code, tc.want)
		}
	}
	for _, path := range []string{"/v1/catalog/services", "/v1/health/state/any", "/v1/health/node/node-a"} {
		code, body, h := sendFull(t, http.MethodGet, srv.URL+path, "X-Consul-Token", webToken, "")
		if code != http.StatusOK || !strings.Contains(body, "web") || strings.Contains(body, "db") || h.Get("X-Consul-Results-Filtered-By-ACLs") != "true" {
			t.Errorf("GET %s with web's token: %d %s %v", path, code, body, h)
		}
	}
}

func FuzzParseDiscoveryQuery(f *testing.F) {
	for _, s := range []string{
		"tag=v1&tag=v2&node-meta=site:shop-7&passing", "index=10&wait=5s", "filter=Service.Port==1",
		"passing=false", "node-meta=:x", "wait=0", "%zz", "wait=-1s", "index=x", "dc=dc1&stale&cached",
		"near=_agent", "near=node-b&filter=Node.Meta.site%20%3D%3D%20shop-7", "filter=%28%28%28", "format=text",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _, err := parseDiscoveryQuery(raw, discoveryParams{tag: true, nodeMeta: true, passing: true, near: true, filter: true})
		if err != nil {
			return
		}
		if q.wait <= 0 || q.wait > MaxWait {
			t.Fatalf("wait %v out of range", q.wait)
		}
		for k := range q.nodeMeta {
			if k == "" {
				t.Fatalf("accepted node meta with an empty key: %q", raw)
			}
		}
		if vals, _ := url.ParseQuery(raw); len(vals.Get("filter")) > maxFilterLen {
			t.Fatalf("accepted a filter of %d bytes", len(vals.Get("filter")))
		}
	})
}

// FuzzFilter: a filter expression from a client is compiled and run on a
// health entry without a panic, and one longer than maxFilterLen is
// refused.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`Service.Meta.version == "2"`, `Node.Meta.site != "shop-7" and Service.Port > 80`,
		`any Checks as c { c.Status == "critical" }`, `Service.Tags contains "v1" or not (Service.ID matches "^web-[0-9]+$")`,
		`Service.Meta is empty`, `"v1" in Service.Tags`, `((((((`, `Nope == 1`, `Service.Port == "x"`,
		`all Service.Meta as k, v { v != "" }`, `Service is empty`, strings.Repeat("(", 2000) + "a==b" + strings.Repeat(")", 2000),
	} {
		f.Add(s)
	}
	entry := &api.ServiceEntry{
		Node: &api.CatalogNode{Node: "node-a", Meta: map[string]string{"site": "shop-7"}, TaggedAddresses: map[string]string{"lan": "127.0.0.1"}},
		Service: &api.AgentService{ID: "web-1", Service: "web", Tags: []string{"v1"}, Meta: map[string]string{"version": "2"}, Port: 8080,
			TaggedAddresses: map[string]api.ServiceAddress{"lan": {Address: "127.0.0.1", Port: 8080}}},
		Checks: []api.HealthCheck{{Node: "node-a", CheckID: "serfHealth", Status: "passing", ServiceTags: []string{}}},
	}
	f.Fuzz(func(t *testing.T, expr string) {
		ev, err := parseFilter(expr)
		if len(expr) > maxFilterLen && err == nil {
			t.Fatalf("accepted a filter of %d bytes", len(expr))
		}
		if err != nil || ev == nil {
			return
		}
		v := &discoveryView{q: discoveryQuery{filter: ev}}
		if _, err := v.keep(entry); err != nil && !errors.Is(err, errBadRequest) {
			t.Fatalf("filter %q: %v, want a bad request", expr, err)
		}
	})
}

// FuzzDiscoveryRequest serves a query to each discovery endpoint, on an
// API whose blocking queries are over (Close): whatever the query, the
// answer is a client error or an answer, never a failure of the agent's
// own (a 500 other than Consul's for another dc) nor a panic, and an
// answer carries an index.
func FuzzDiscoveryRequest(f *testing.F) {
	for _, s := range []string{
		"", "index=5&wait=1s", "near=_agent&filter=Node.Node%20%3D%3D%20node-b", "tag=v1&passing", "node-meta=site:shop-7",
		"filter=any%20Checks%20as%20c%20%7B%20c.Status%20%3D%3D%20critical%20%7D", "format=text", "dc=dc1", "dc=x", "near=nowhere",
	} {
		f.Add(uint8(0), s)
	}
	a, st, _, _ := blockingAPI(f)
	putRecords(f, st, map[string][]byte{
		catalog.ServiceKey("node-b", "web-1"): encodeInstance(f, catalog.Instance{ID: "web-1", Name: "web", Tags: []string{"v1"}, Weights: catalog.DefaultWeights}),
		catalog.CheckKey("node-b", "web-1-ttl"): encodeCheck(f, catalog.Check{ID: "web-1-ttl", Name: "ttl", ServiceID: "web-1",
			Type: catalog.CheckTypeTTL, Status: catalog.StatusWarning}),
	})
	a.Close()
	paths := []string{
		"/v1/catalog/services", "/v1/catalog/service/web", "/v1/catalog/node/node-b", "/v1/catalog/node-services/node-b",
		"/v1/catalog/nodes", "/v1/catalog/datacenters", "/v1/health/service/web", "/v1/health/checks/web",
		"/v1/health/node/node-b", "/v1/health/state/any", "/v1/agent/health/service/name/web", "/v1/agent/health/service/id/web-1",
		"/v1/agent/services", "/v1/agent/checks",
	}
	f.Fuzz(func(t *testing.T, which uint8, raw string) {
		path := paths[int(which)%len(paths)]
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8500"+path, nil)
		req.URL.RawQuery = raw
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		switch code := rec.Code; {
		case code == http.StatusInternalServerError && strings.Contains(rec.Body.String(), noPathToDatacenter):
		case code == http.StatusOK && !strings.HasPrefix(path, "/v1/agent/") && path != "/v1/catalog/datacenters":
			if i := rec.Header().Get("X-Consul-Index"); i == "" || i == "0" {
				t.Fatalf("GET %s?%s: index %q", path, raw, i)
			}
		case code >= 500 && !strings.HasPrefix(path, "/v1/agent/health/"):
			t.Fatalf("GET %s?%s: %d %s", path, raw, code, rec.Body)
		}
	})
}
