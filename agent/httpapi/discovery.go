package httpapi

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-bexpr"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/gossip"
)

// Discovery: Consul's catalog and health reads, answered from this node's
// replica of every node's records (catalog.Read) and from membership. A
// node's health is its synthetic check serfHealth, computed from its
// member status at each read and never stored.
//
// Blocking: each answer carries its own index (X-Consul-Index), the
// largest of the local modify indexes of what it is made of: the records
// of its instances and checks, the membership state of their nodes
// (MemberIndex), and the index at which the service (or node) last lost a
// record (removals). A blocking read re-reads at each change of the
// catalog table or of membership, and answers once its own index passed
// the client's, or when its wait ends: a change of another service wakes
// it only to find its index unchanged.

// serfHealth is the ID and name of the node check Consul keeps for every
// node.
const (
	serfCheckID   = "serfHealth"
	serfCheckName = "Serf Health Status"
)

// Filter expressions are bounded: a longer expression, or one whose
// parse takes more steps (the parser's rule matches), is refused (400).
const (
	maxFilterLen        = 4 << 10
	maxFilterParseSteps = 1 << 20
)

// nearAgent is near's name for this agent's node.
const nearAgent = "_agent"

// discoveryParams says which query parameters an endpoint takes, beyond
// those every discovery read takes (token, dc, index, wait, stale,
// consistent, cached, pretty).
type discoveryParams struct {
	tag, nodeMeta, passing, near, filter bool
}

// discoveryQuery is a discovery read's parsed query.
type discoveryQuery struct {
	tags     []string
	nodeMeta map[string]string
	passing  bool
	near     string
	filter   *bexpr.Evaluator
	index    uint64
	wait     time.Duration
}

// discoveryAnswer is what an endpoint answers: a body to encode as JSON
// and the index of what it was made of.
type discoveryAnswer struct {
	body     any
	index    uint64
	filtered bool // the token's ACLs left something out
}

// discoveryEndpoint makes an endpoint's answer from a view; an error is
// the client's (400).
type discoveryEndpoint func(r *http.Request, v *discoveryView) (discoveryAnswer, error)

// handleDiscovery adds the catalog and health reads.
func (a *API) handleDiscovery(c Catalog) {
	all := discoveryParams{tag: true, nodeMeta: true, passing: true, near: true, filter: true}
	a.mux.HandleFunc("GET /v1/catalog/services", a.discovery(c, discoveryParams{nodeMeta: true, filter: true}, a.catalogServices))
	a.mux.HandleFunc("GET /v1/catalog/service/{name}", a.discovery(c, discoveryParams{tag: true, nodeMeta: true, near: true, filter: true}, a.catalogService))
	a.mux.HandleFunc("GET /v1/catalog/node/{node}", a.discovery(c, discoveryParams{filter: true}, a.catalogNodeServices(false)))
	a.mux.HandleFunc("GET /v1/catalog/node-services/{node}", a.discovery(c, discoveryParams{filter: true}, a.catalogNodeServices(true)))
	a.mux.HandleFunc("GET /v1/health/service/{name}", a.discovery(c, all, a.healthService))
	a.mux.HandleFunc("GET /v1/health/checks/{name}", a.discovery(c, discoveryParams{nodeMeta: true, near: true, filter: true}, a.healthChecks))
	a.mux.HandleFunc("GET /v1/health/node/{node}", a.discovery(c, discoveryParams{filter: true}, a.healthNode))
	a.mux.HandleFunc("GET /v1/health/state/{state}", a.discovery(c, discoveryParams{nodeMeta: true, near: true, filter: true}, a.healthState))
	a.mux.HandleFunc("GET /v1/agent/health/service/name/{name}", a.agentHealth(c, true))
	a.mux.HandleFunc("GET /v1/agent/health/service/id/{id}", a.agentHealth(c, false))
}

// discoveryView is what a discovery endpoint answers from: the catalog as
// read, and membership.
type discoveryView struct {
	snap    catalog.Snapshot
	members map[string]gossip.Member
	dc      string
	self    string // this agent's node
	q       discoveryQuery
	index   *MemberIndex
	removed *removals
	rtt     func(node string) (time.Duration, bool)

	// Built on first use.
	nodes        map[string]visibleNode // node name → as node returns it
	checksByNode map[string][]int       // node name → its checks in snap.Checks
}

// visibleNode is a node as the catalog shows it, and whether it is
// visible.
type visibleNode struct {
	n  api.CatalogNode
	ok bool
}

// discovery wraps an endpoint: it parses the query (400 for what it does
// not take), answers another dc as Consul does, checks service:read on a
// path's {name}, answers, and when asked to block answers again at each
// change until the answer's index passes the client's.
func (a *API) discovery(c Catalog, p discoveryParams, serve discoveryEndpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, dc, err := parseDiscoveryQuery(r.URL.RawQuery, p)
		if err != nil {
			a.fail(w, r, http.StatusBadRequest, err)
			return
		}
		if a.otherDatacenter(w, dc) {
			return
		}
		if name := r.PathValue("name"); name != "" && !a.serviceAllowed(w, r, name, acl.Read) {
			return
		}
		a.answerDiscovery(w, r, c, q, serve)
	}
}

// answerDiscovery answers a read; a blocking one (index) first takes a
// slot of http_max_blocking_queries, or, when none is free, answers at
// once if its answer passed its index and 429 otherwise.
func (a *API) answerDiscovery(w http.ResponseWriter, r *http.Request, c Catalog, q discoveryQuery, serve discoveryEndpoint) {
	ctx := r.Context()
	changed := a.memberIndex.Changed()
	snap, err := readCatalog(ctx, c, 0)
	if err != nil {
		a.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	ans, err := a.evaluate(r, snap, q, serve)
	if err == nil && q.index > 0 && ans.index <= q.index {
		if !a.blocking.tryAcquire() {
			a.blocking.refused.Add(1)
			a.tooManyBlocking(w)
			return
		}
		defer a.blocking.release()
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, q.wait+rand.N(q.wait/16+1))
		defer cancel()
		stop := context.AfterFunc(a.closed, cancel)
		defer stop()
		// Bounded by ctx's deadline: each turn waits for a change.
		for err == nil && ans.index <= q.index && ctx.Err() == nil {
			if snap, err = a.waitDiscovery(ctx, c, snap.TableIndex, changed); err != nil {
				a.fail(w, r, http.StatusInternalServerError, err)
				return
			}
			changed = a.memberIndex.Changed()
			ans, err = a.evaluate(r, snap, q, serve)
		}
		if err == nil && ans.index > q.index {
			a.blocking.woken.Add(1)
		}
	}
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, err)
		return
	}
	if snap.Malformed > 0 {
		a.log.Debug("catalog records skipped", "malformed", snap.Malformed)
	}
	setReadMeta(w, ans.index)
	reportFiltered(w, authorizer(r.Context()), ans.filtered)
	writeJSON(w, ans.body)
}

// readCatalog reads c; a nil c (no catalog) reads as empty.
func readCatalog(ctx context.Context, c Catalog, after uint64) (catalog.Snapshot, error) {
	if c == nil {
		return catalog.Snapshot{}, nil
	}
	return c.Read(ctx, after)
}

// waitDiscovery waits for a change of the catalog table past after, a
// membership change (changed closes) or ctx's end, then reads the
// catalog. An empty table waits for any change past 1.
func (a *API) waitDiscovery(ctx context.Context, c Catalog, after uint64, changed <-chan struct{}) (catalog.Snapshot, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // ends with wctx, at the latest when this returns
		select {
		case <-changed:
			cancel()
		case <-wctx.Done():
		}
	}()
	if c == nil {
		<-wctx.Done()
		return catalog.Snapshot{}, nil
	}
	return c.Read(wctx, max(after, 1))
}

// evaluate builds the view of a snapshot and answers from it.
func (a *API) evaluate(r *http.Request, snap catalog.Snapshot, q discoveryQuery, serve discoveryEndpoint) (discoveryAnswer, error) {
	if a.evaluated != nil {
		a.evaluated(r, snap.TableIndex, a.memberIndex.Max())
	}
	a.removed.observe(&snap)
	self := a.self()
	v := &discoveryView{snap: snap, members: map[string]gossip.Member{}, dc: self.Datacenter, self: self.NodeName,
		q: q, index: a.memberIndex, removed: a.removed, rtt: a.rtt}
	if a.mesh != nil {
		for _, m := range a.mesh.Members() {
			if m.Status != gossip.StatusLeft {
				v.members[m.Name] = m
			}
		}
	}
	ans, err := serve(r, v)
	ans.index = max(ans.index, 1)
	return ans, err
}

// rtt returns the mesh's smoothed round trip to node, when the mesh
// measures them.
func (a *API) rtt(node string) (time.Duration, bool) {
	if m, ok := a.mesh.(interface {
		RTT(node string) (time.Duration, bool)
	}); ok {
		return m.RTT(node)
	}
	return 0, false
}

// parseDiscoveryQuery parses a discovery read's query. Parameters that
// would change the answer and are not supported are refused: ignoring
// them would answer something else than was asked.
func parseDiscoveryQuery(raw string, p discoveryParams) (q discoveryQuery, dc string, err error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return q, "", badRequest("malformed query: %v", err)
	}
	for name, vs := range vals {
		v := vs[0]
		switch {
		case name == "token", name == "pretty", name == "stale", name == "consistent", name == "cached":
		case name == "dc":
			dc = v
		case name == "index":
			if q.index, err = strconv.ParseUint(v, 10, 64); err != nil {
				return q, "", badRequest("invalid index %q", v)
			}
		case name == "wait":
			if q.wait, err = parseWait(v); err != nil {
				return q, "", err
			}
		case name == "tag" && p.tag:
			q.tags = vs
		case name == "node-meta" && p.nodeMeta:
			q.nodeMeta = map[string]string{}
			for _, kv := range vs {
				k, val, ok := strings.Cut(kv, ":")
				if !ok || k == "" {
					return q, "", badRequest("invalid node-meta %q: key:value", kv)
				}
				q.nodeMeta[k] = val
			}
		case name == "passing" && p.passing:
			b, perr := strconv.ParseBool(v)
			if v != "" && perr != nil {
				return q, "", badRequest("passing %q: true or false", v)
			}
			q.passing = v == "" || b
		case name == "near" && p.near:
			q.near = v
		case name == "filter" && p.filter:
			if q.filter, err = parseFilter(v); err != nil {
				return q, "", err
			}
		case name == "ns" || name == "partition":
			return q, "", badRequest("%s: namespaces and admin partitions are not supported by edgeplane", name)
		case name == "peer", name == "sampling-partition":
			return q, "", badRequest("%s: cluster peering is not supported by edgeplane", name)
		default:
			return q, "", badRequest("unsupported query parameter %q", name)
		}
	}
	if q.wait == 0 {
		q.wait = DefaultWait
	}
	return q, dc, nil
}

// parseFilter compiles a filter expression; "" filters nothing.
func parseFilter(expr string) (*bexpr.Evaluator, error) {
	if expr == "" {
		return nil, nil
	}
	if len(expr) > maxFilterLen {
		return nil, badRequest("filter: expression of %d bytes, more than %d", len(expr), maxFilterLen)
	}
	ev, err := bexpr.CreateEvaluator(expr, bexpr.WithMaxExpressions(maxFilterParseSteps))
	if err != nil {
		return nil, badRequest("Failed to create boolean expression evaluator: %v", err)
	}
	return ev, nil
}

// filterExpr is a compiled filter; nil keeps everything.
type filterExpr struct{ ev *bexpr.Evaluator }

// keep reports whether the filter keeps datum; an expression that does
// not apply to it (a selector of no field) is the client's error. So is
// one go-bexpr panics on rather than refusing (`Service is empty`: a
// length asked of a struct): the panic is stopped here and answered 400.
func (f filterExpr) keep(datum any) (ok bool, err error) {
	if f.ev == nil {
		return true, nil
	}
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, badRequest("filter: the expression does not apply to these fields: %v", r)
		}
	}()
	ok, err = f.ev.Evaluate(datum)
	if err != nil {
		return false, badRequest("filter: %v", err)
	}
	return ok, nil
}

// keep reports whether the query's filter keeps datum.
func (v *discoveryView) keep(datum any) (bool, error) { return filterExpr{v.q.filter}.keep(datum) }

// agentFilter checks the query of a listing of the agent's own services
// or checks (agentQuery, with filter) and compiles its filter, on the
// fields of an AgentService or AgentCheck as Consul names them.
func (a *API) agentFilter(w http.ResponseWriter, r *http.Request) (filterExpr, bool) {
	if !a.agentQuery(w, r, "filter") {
		return filterExpr{}, false
	}
	ev, err := parseFilter(r.URL.Query().Get("filter"))
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, err)
		return filterExpr{}, false
	}
	return filterExpr{ev}, true
}

// node returns a node as the catalog shows it, and whether it is visible
// (a member that has not left) with the query's node meta.
func (v *discoveryView) node(name string) (api.CatalogNode, bool) {
	if vn, ok := v.nodes[name]; ok {
		return vn.n, vn.ok
	}
	if v.nodes == nil {
		v.nodes = map[string]visibleNode{}
	}
	n, ok := v.lookupNode(name)
	v.nodes[name] = visibleNode{n, ok}
	return n, ok
}

func (v *discoveryView) lookupNode(name string) (api.CatalogNode, bool) {
	m, ok := v.members[name]
	if !ok {
		return api.CatalogNode{}, false
	}
	n := CatalogNode(&m, v.dc)
	n.ModifyIndex = max(n.ModifyIndex, v.index.Node(name))
	for k, val := range v.q.nodeMeta {
		if got, ok := n.Meta[k]; !ok || got != val {
			return api.CatalogNode{}, false
		}
	}
	return n, true
}

// instances returns the visible instances named name with all the
// query's tags, in order, and the index of the service: the largest of
// its records' (visible or not), of their nodes' membership and of its
// last removal.
func (v *discoveryView) instances(name string) ([]catalog.NodeInstance, uint64) {
	var out []catalog.NodeInstance
	index := v.removed.serviceIndex(name)
	for _, in := range v.snap.Instances {
		if in.Name != name {
			continue
		}
		index = max(index, in.ModifyIndex, v.index.Node(in.Node))
		if _, ok := v.node(in.Node); !ok {
			continue
		}
		if !slices.ContainsFunc(v.q.tags, func(t string) bool { return !slices.Contains(in.Tags, t) }) {
			out = append(out, in)
		}
	}
	for _, c := range v.snap.Checks {
		if c.ServiceName == name {
			index = max(index, c.ModifyIndex)
		}
	}
	return out, index
}

// nodeIndex returns the index of a node: the largest of its records', of
// its membership and of its last removal.
func (v *discoveryView) nodeIndex(node string) uint64 {
	index := max(v.removed.nodeIndex(node), v.index.Node(node))
	for _, in := range v.snap.Instances {
		if in.Node == node {
			index = max(index, in.ModifyIndex)
		}
	}
	for _, c := range v.snap.Checks {
		if c.Node == node {
			index = max(index, c.ModifyIndex)
		}
	}
	return index
}

// tableIndex is the index of an answer made of every node: the catalog
// table's and membership's.
func (v *discoveryView) tableIndex() uint64 {
	return max(v.snap.TableIndex, v.index.Max(), v.removed.nodeIndex(""))
}

// sortNear orders items by distance when the query has near: the near
// node first, then the nodes of its site, then the others by this
// agent's smoothed gossip round trip to them (unmeasured last), ties by
// node name, and items of one node in their order. An unknown near node
// leaves the order as it is, as Consul does.
func sortNear[T any](v *discoveryView, items []T, nodeOf func(*T) string) {
	near := v.q.near
	if near == "" {
		return
	}
	if near == nearAgent {
		near = v.self
	}
	m, ok := v.members[near]
	if !ok {
		return
	}
	type key struct {
		rank int
		rtt  time.Duration
	}
	keys := map[string]key{}
	keyOf := func(node string) key {
		if k, ok := keys[node]; ok {
			return k
		}
		k := key{rank: 2, rtt: math.MaxInt64}
		switch other, ok := v.members[node]; {
		case node == near:
			k.rank = 0
		case ok && other.Site == m.Site:
			k.rank = 1
		default:
			if d, ok := v.rtt(node); ok {
				k.rtt = d
			}
		}
		keys[node] = k
		return k
	}
	slices.SortStableFunc(items, func(a, b T) int {
		na, nb := nodeOf(&a), nodeOf(&b)
		ka, kb := keyOf(na), keyOf(nb)
		return cmp.Or(cmp.Compare(ka.rank, kb.rank), cmp.Compare(ka.rtt, kb.rtt), strings.Compare(na, nb))
	})
}

// serfCheck is a node's serfHealth: passing while its member is alive,
// suspect or leaving, critical once failed. Its indexes are the node's
// membership index.
func serfCheck(m *gossip.Member, index uint64) api.HealthCheck {
	index = max(index, 1)
	c := api.HealthCheck{Node: m.Name, CheckID: serfCheckID, Name: serfCheckName, Status: catalog.StatusPassing,
		Output: "Agent alive and reachable", ServiceTags: []string{}, CreateIndex: 1, ModifyIndex: index}
	if m.Status == gossip.StatusFailed {
		c.Status, c.Output = catalog.StatusCritical, "Agent not live or unreachable"
	}
	return c
}

// nodeChecks returns a visible node's checks: serfHealth, then those its
// records hold, those of a service only when it is the service given
// ("" for every one).
func (v *discoveryView) nodeChecks(node, serviceID string, tags map[string][]string) []api.HealthCheck {
	m := v.members[node]
	out := []api.HealthCheck{serfCheck(&m, v.index.Node(node))}
	if v.checksByNode == nil {
		v.checksByNode = map[string][]int{}
		for i := range v.snap.Checks {
			v.checksByNode[v.snap.Checks[i].Node] = append(v.checksByNode[v.snap.Checks[i].Node], i)
		}
	}
	for _, i := range v.checksByNode[node] {
		c := &v.snap.Checks[i]
		if c.ServiceID != "" && serviceID != "" && c.ServiceID != serviceID {
			continue
		}
		out = append(out, healthCheck(c, tags[node+"/"+c.ServiceID]))
	}
	return out
}

func healthCheck(c *catalog.NodeCheck, tags []string) api.HealthCheck {
	if tags == nil {
		tags = []string{}
	}
	return api.HealthCheck{Node: c.Node, CheckID: c.ID, Name: c.Name, Status: c.Status, Notes: c.Notes,
		Output: c.Output, ServiceID: c.ServiceID, ServiceName: c.ServiceName, ServiceTags: tags, Type: c.Type,
		CreateIndex: c.CreateIndex, ModifyIndex: c.ModifyIndex}
}

// tagsByInstance returns the instances' tags by "<node>/<service ID>".
func (v *discoveryView) tagsByInstance() map[string][]string {
	out := make(map[string][]string, len(v.snap.Instances))
	for _, in := range v.snap.Instances {
		out[in.Node+"/"+in.ID] = in.Tags
	}
	return out
}

// catalogEntry is an instance as /v1/catalog/service shows it.
func (a *API) catalogEntry(n *api.CatalogNode, in *catalog.NodeInstance) api.CatalogService {
	s := a.agentService(&in.Instance)
	return api.CatalogService{
		ID: n.ID, Node: n.Node, Address: n.Address, Datacenter: n.Datacenter, TaggedAddresses: n.TaggedAddresses,
		NodeMeta: n.Meta, ServiceID: s.ID, ServiceName: s.Service, ServiceAddress: s.Address,
		ServiceTaggedAddresses: s.TaggedAddresses, ServiceTags: s.Tags, ServiceMeta: s.Meta, ServicePort: s.Port,
		ServiceWeights: s.Weights, ServiceEnableTagOverride: s.EnableTagOverride,
		CreateIndex: in.CreateIndex, ModifyIndex: in.ModifyIndex,
	}
}

// catalogServices answers GET /v1/catalog/services: every service name a
// visible node has an instance of (that the filter keeps, on
// /v1/catalog/service's fields), with the union of their tags.
func (a *API) catalogServices(r *http.Request, v *discoveryView) (discoveryAnswer, error) {
	z := authorizer(r.Context())
	out := map[string][]string{}
	filtered := false
	for _, in := range v.snap.Instances {
		n, ok := v.node(in.Node)
		if !ok {
			continue
		}
		if !z.ServiceRead(in.Name) {
			filtered = true
			continue
		}
		if v.q.filter != nil {
			if keep, err := v.keep(a.catalogEntry(&n, &in)); err != nil || !keep {
				if err != nil {
					return discoveryAnswer{}, err
				}
				continue
			}
		}
		tags := out[in.Name]
		if tags == nil {
			tags = []string{}
		}
		for _, t := range in.Tags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
		out[in.Name] = tags
	}
	for _, tags := range out {
		slices.Sort(tags)
	}
	return discoveryAnswer{body: out, index: v.tableIndex(), filtered: filtered}, nil
}

// catalogService answers GET /v1/catalog/service/<name>.
func (a *API) catalogService(r *http.Request, v *discoveryView) (discoveryAnswer, error) {
	out := []api.CatalogService{}
	ins, index := v.instances(r.PathValue("name"))
	for _, in := range ins {
		n, _ := v.node(in.Node)
		e := a.catalogEntry(&n, &in)
		if keep, err := v.keep(&e); err != nil {
			return discoveryAnswer{}, err
		} else if keep {
			out = append(out, e)
		}
	}
	sortNear(v, out, func(e *api.CatalogService) string { return e.Node })
	return discoveryAnswer{body: out, index: index}, nil
}

// catalogNodeServices answers GET /v1/catalog/node/<node> (services by
// ID) and, with list, /v1/catalog/node-services/<node> (services in ID
// order): the node and the instances the token may read that the filter
// keeps. An unknown node is null, or a null Node with no services.
func (a *API) catalogNodeServices(list bool) discoveryEndpoint {
	return func(r *http.Request, v *discoveryView) (discoveryAnswer, error) {
		name := r.PathValue("node")
		index := v.nodeIndex(name)
		n, ok := v.node(name)
		if !ok {
			if list {
				return discoveryAnswer{body: api.CatalogNodeServiceList{Services: []api.AgentService{}}, index: index}, nil
			}
			return discoveryAnswer{body: nil, index: index}, nil
		}
		z := authorizer(r.Context())
		services := []api.AgentService{}
		filtered := false
		for _, in := range v.snap.Instances {
			if in.Node != name {
				continue
			}
			if !z.ServiceRead(in.Name) {
				filtered = true
				continue
			}
			s := a.agentService(&in.Instance)
			if keep, err := v.keep(&s); err != nil {
				return discoveryAnswer{}, err
			} else if keep {
				services = append(services, s)
			}
		}
		if list {
			return discoveryAnswer{body: api.CatalogNodeServiceList{Node: &n, Services: services}, index: index, filtered: filtered}, nil
		}
		byID := make(map[string]api.AgentService, len(services))
		for _, s := range services {
			byID[s.ID] = s
		}
		return discoveryAnswer{body: api.CatalogNodeServices{Node: &n, Services: byID}, index: index, filtered: filtered}, nil
	}
}

// healthService answers GET /v1/health/service/<name>.
func (a *API) healthService(r *http.Request, v *discoveryView) (discoveryAnswer, error) {
	tags := v.tagsByInstance()
	out := []api.ServiceEntry{}
	ins, index := v.instances(r.PathValue("name"))
	for _, in := range ins {
		n, _ := v.node(in.Node)
		s := a.agentService(&in.Instance)
		checks := v.nodeChecks(in.Node, in.ID, tags)
		if v.q.passing && slices.ContainsFunc(checks, func(c api.HealthCheck) bool { return c.Status != catalog.StatusPassing }) {
			continue
		}
		e := api.ServiceEntry{Node: &n, Service: &s, Checks: checks}
		if keep, err := v.keep(&e); err != nil {
			return discoveryAnswer{}, err
		} else if keep {
			out = append(out, e)
		}
	}
	sortNear(v, out, func(e *api.ServiceEntry) string { return e.Node.Node })
	return discoveryAnswer{body: out, index: index}, nil
}

// filterChecks returns the checks the filter keeps, and whether the
// token's ACLs left some out (ACLs are asked when z is not nil).
func (v *discoveryView) filterChecks(checks []api.HealthCheck, z *acl.Authorizer) ([]api.HealthCheck, bool, error) {
	out := checks[:0]
	filtered := false
	for _, c := range checks {
		if z != nil && c.ServiceName != "" && !z.ServiceRead(c.ServiceName) {
			filtered = true
			continue
		}
		keep, err := v.keep(&c)
		if err != nil {
			return nil, false, err
		}
		if keep {
			out = append(out, c)
		}
	}
	return out, filtered, nil
}

// healthChecks answers GET /v1/health/checks/<service>: the checks of the
// service's visible instances.
func (a *API) healthChecks(r *http.Request, v *discoveryView) (discoveryAnswer, error) {
	name := r.PathValue("name")
	_, index := v.instances(name)
	tags := v.tagsByInstance()
	out := []api.HealthCheck{}
	for _, c := range v.snap.Checks {
		if _, ok := v.node(c.Node); ok && c.ServiceName == name {
			out = append(out, healthCheck(&c, tags[c.Node+"/"+c.ServiceID]))
		}
	}
	out, _, err := v.filterChecks(out, nil)
	if err != nil {
		return discoveryAnswer{}, err
	}
	sortNear(v, out, func(c *api.HealthCheck) string { return c.Node })
	return discoveryAnswer{body: out, index: index}, nil
}

// healthNode answers GET /v1/health/node/<node>: serfHealth and the
// node's checks the token may read.
func (a *API) healthNode(r *http.Request, v *discoveryView) (discoveryAnswer, error) {
	node := r.PathValue("node")
	out := []api.HealthCheck{}
	filtered := false
	if _, ok := v.node(node); ok {
		var err error
		out, filtered, err = v.filterChecks(v.nodeChecks(node, "", v.tagsByInstance()), authorizer(r.Context()))
		if err != nil {
			return discoveryAnswer{}, err
		}
	}
	return discoveryAnswer{body: out, index: v.nodeIndex(node), filtered: filtered}, nil
}

// healthState answers GET /v1/health/state/<state>: the checks in a
// state (any: every check) of every visible node, serfHealth included.
func (a *API) healthState(r *http.Request, v *discoveryView) (discoveryAnswer, error) {
	state := r.PathValue("state")
	switch state {
	case "any", catalog.StatusPassing, catalog.StatusWarning, catalog.StatusCritical:
	default:
		return discoveryAnswer{}, badRequest("state %q: passing, warning, critical or any", state)
	}
	tags := v.tagsByInstance()
	nodes := make([]string, 0, len(v.members))
	for name := range v.members {
		if _, ok := v.node(name); ok {
			nodes = append(nodes, name)
		}
	}
	slices.Sort(nodes)
	var all []api.HealthCheck
	for _, node := range nodes {
		for _, c := range v.nodeChecks(node, "", tags) {
			if state == "any" || c.Status == state {
				all = append(all, c)
			}
		}
	}
	out, filtered, err := v.filterChecks(all, authorizer(r.Context()))
	if err != nil {
		return discoveryAnswer{}, err
	}
	if out == nil {
		out = []api.HealthCheck{}
	}
	sortNear(v, out, func(c *api.HealthCheck) string { return c.Node })
	return discoveryAnswer{body: out, index: v.tableIndex(), filtered: filtered}, nil
}

// catalogNodes answers GET /v1/catalog/nodes: the members that have not
// left (failed ones stay in the catalog, as in Consul, until they are
// reaped). Its index is membership's.
func (a *API) catalogNodes(r *http.Request, v *discoveryView) (discoveryAnswer, error) {
	out := []api.CatalogNode{}
	for _, m := range a.mesh.Members() {
		n, ok := v.node(m.Name)
		if !ok {
			continue
		}
		if keep, err := v.keep(&n); err != nil {
			return discoveryAnswer{}, err
		} else if keep {
			out = append(out, n)
		}
	}
	sortNear(v, out, func(n *api.CatalogNode) string { return n.Node })
	return discoveryAnswer{body: out, index: v.index.Max()}, nil
}

// handleDatacenters answers GET /v1/catalog/datacenters: the mesh is one
// datacenter, the one /v1/agent/self reports.
func (a *API) handleDatacenters(w http.ResponseWriter, r *http.Request) {
	if !a.agentQuery(w, r) {
		return
	}
	writeJSON(w, []string{a.self().Datacenter})
}

// agentHealth answers GET /v1/agent/health/service/name/<name> (byName)
// and /v1/agent/health/service/id/<id>: the health of this agent's
// instances as Consul's AgentServiceChecksInfo, with the status code of
// the worst (200 passing, 429 warning, 503 critical; 404 for none);
// format=text answers the aggregated status alone.
func (a *API) agentHealth(c Catalog, byName bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.agentQuery(w, r, "format") {
			return
		}
		format := r.URL.Query().Get("format")
		if format != "" && format != "text" && format != "json" {
			a.fail(w, r, http.StatusBadRequest, fmt.Errorf("format %q: text or json", format))
			return
		}
		key := r.PathValue("id")
		if byName {
			key = r.PathValue("name")
		}
		var ins []catalog.Instance
		for _, in := range c.Services() {
			if byName && in.Name == key || !byName && in.ID == key {
				ins = append(ins, in)
			}
		}
		if len(ins) == 0 {
			msg := fmt.Sprintf("ServiceId %s not found", key)
			if byName {
				msg = fmt.Sprintf("ServiceName %s Not Found", key)
			}
			if byName && format != "text" {
				writeStatusJSON(w, http.StatusNotFound, []api.AgentServiceChecksInfo{})
				return
			}
			http.Error(w, msg, http.StatusNotFound)
			return
		}
		if !a.serviceAllowed(w, r, ins[0].Name, acl.Read) {
			return
		}
		checks := c.Checks()
		code, worst := http.StatusOK, catalog.StatusPassing
		infos := make([]api.AgentServiceChecksInfo, 0, len(ins))
		for _, in := range ins {
			hc := []api.HealthCheck{}
			for _, cs := range checks {
				if cs.ServiceID == in.ID || cs.ServiceID == "" {
					ac := a.agentCheck(&cs, in.Tags)
					hc = append(hc, api.HealthCheck{Node: ac.Node, CheckID: ac.CheckID, Name: ac.Name, Status: ac.Status,
						Notes: ac.Notes, Output: ac.Output, ServiceID: ac.ServiceID, ServiceName: ac.ServiceName,
						ServiceTags: ac.ServiceTags, Type: ac.Type})
				}
			}
			s := a.agentService(&in)
			status := aggregatedStatus(hc)
			if c := statusCode(status); c > code {
				code, worst = c, status
			}
			infos = append(infos, api.AgentServiceChecksInfo{AggregatedStatus: status, Service: &s, Checks: hc})
		}
		if format == "text" {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(code)
			fmt.Fprint(w, worst)
			return
		}
		if byName {
			writeStatusJSON(w, code, infos)
			return
		}
		writeStatusJSON(w, code, infos[0])
	}
}

// aggregatedStatus is Consul's: maintenance, then critical, then warning
// win; passing otherwise (no check is passing).
func aggregatedStatus(checks []api.HealthCheck) string {
	status := catalog.StatusPassing
	for _, c := range checks {
		switch {
		case c.CheckID == "_node_maintenance" || strings.HasPrefix(c.CheckID, "_service_maintenance:"):
			return "maintenance"
		case c.Status == catalog.StatusCritical:
			status = catalog.StatusCritical
		case c.Status == catalog.StatusWarning && status == catalog.StatusPassing:
			status = catalog.StatusWarning
		}
	}
	return status
}

// statusCode is the code of an aggregated status, as Consul answers it.
func statusCode(status string) int {
	switch status {
	case catalog.StatusPassing:
		return http.StatusOK
	case catalog.StatusWarning:
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

func writeStatusJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return // the client went away
	}
}
