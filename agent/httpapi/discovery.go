package httpapi

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/gossip"
)

// Discovery: Consul's catalog and health reads, answered from this node's
// replica of every node's records (catalog.Read) and from membership. A
// node's health is its synthetic check serfHealth, computed from its
// member status at each read and never stored.

// serfHealth is the ID and name of the node check Consul keeps for every
// node.
const (
	serfCheckID   = "serfHealth"
	serfCheckName = "Serf Health Status"
)

// discoveryParams says which query parameters an endpoint takes, beyond
// those every discovery read takes (token, dc, index, wait, stale,
// consistent, cached, pretty).
type discoveryParams struct {
	tag, nodeMeta, passing bool
}

// discoveryQuery is a discovery read's parsed query.
type discoveryQuery struct {
	tags     []string
	nodeMeta map[string]string
	passing  bool
	index    uint64
	wait     time.Duration
}

// handleDiscovery adds the catalog and health reads.
func (a *API) handleDiscovery(c Catalog) {
	services := discoveryParams{tag: true, nodeMeta: true}
	a.mux.HandleFunc("GET /v1/catalog/services", a.discovery(c, discoveryParams{nodeMeta: true}, a.catalogServices))
	a.mux.HandleFunc("GET /v1/catalog/service/{name}", a.discovery(c, services, a.catalogService))
	a.mux.HandleFunc("GET /v1/health/service/{name}", a.discovery(c, discoveryParams{tag: true, nodeMeta: true, passing: true}, a.healthService))
	a.mux.HandleFunc("GET /v1/health/checks/{name}", a.discovery(c, discoveryParams{nodeMeta: true}, a.healthChecks))
	a.mux.HandleFunc("GET /v1/health/node/{node}", a.discovery(c, discoveryParams{}, a.healthNode))
	a.mux.HandleFunc("GET /v1/health/state/{state}", a.discovery(c, discoveryParams{nodeMeta: true}, a.healthState))
}

// discoveryView is what a discovery endpoint answers from: the catalog as
// read, and membership.
type discoveryView struct {
	snap    catalog.Snapshot
	members map[string]gossip.Member
	dc      string
	q       discoveryQuery
}

// discovery wraps an endpoint: it parses the query (400 for what it does
// not take), answers another dc as Consul does, checks service:read on a
// path's {name}, blocks when asked, reads, and sets the read headers.
func (a *API) discovery(c Catalog, p discoveryParams, serve func(w http.ResponseWriter, r *http.Request, v *discoveryView)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, dc, err := parseDiscoveryQuery(r.URL.RawQuery, p)
		if err != nil {
			a.fail(w, http.StatusBadRequest, err)
			return
		}
		if a.otherDatacenter(w, dc) {
			return
		}
		if name := r.PathValue("name"); name != "" && !a.serviceAllowed(w, r, name, acl.Read) {
			return
		}
		snap, ok := a.discoveryRead(w, r.Context(), c, q)
		if !ok {
			return
		}
		if snap.Malformed > 0 {
			a.log.Debug("catalog records skipped", "malformed", snap.Malformed)
		}
		v := &discoveryView{snap: snap, members: map[string]gossip.Member{}, dc: a.self().Datacenter, q: q}
		for _, m := range a.mesh.Members() {
			if m.Status != gossip.StatusLeft {
				v.members[m.Name] = m
			}
		}
		setReadMeta(w, snap.Index)
		serve(w, r, v)
	}
}

// discoveryRead reads the catalog; a blocking query (index) first takes
// a slot of http_max_blocking_queries, or, when none is free, answers at
// once if the catalog changed past its index and 429 otherwise.
func (a *API) discoveryRead(w http.ResponseWriter, ctx context.Context, c Catalog, q discoveryQuery) (catalog.Snapshot, bool) {
	after := q.index
	if after > 0 {
		if a.blocking.tryAcquire() {
			defer a.blocking.release()
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, q.wait+rand.N(q.wait/16+1))
			defer cancel()
			stop := context.AfterFunc(a.closed, cancel)
			defer stop()
		} else {
			after = 0
		}
	}
	snap, err := c.Read(ctx, after)
	if err != nil {
		a.fail(w, http.StatusInternalServerError, err)
		return snap, false
	}
	if q.index > 0 && after == 0 && snap.TableIndex <= q.index {
		a.blocking.refused.Add(1)
		a.tooManyBlocking(w)
		return snap, false
	}
	return snap, true
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
		case name == "filter" && v == "":
		case name == "filter":
			return q, "", badRequest("filter: filtering expressions are not supported by edgeplane; use tag, node-meta and passing")
		case name == "ns" || name == "partition":
			return q, "", badRequest("%s: namespaces and admin partitions are not supported by edgeplane", name)
		case name == "peer", name == "sampling-partition":
			return q, "", badRequest("%s: cluster peering is not supported by edgeplane", name)
		case name == "near":
			return q, "", badRequest("near: sorting by network distance is not supported by edgeplane")
		default:
			return q, "", badRequest("unsupported query parameter %q", name)
		}
	}
	if q.wait == 0 {
		q.wait = DefaultWait
	}
	return q, dc, nil
}

// node returns a node as the catalog shows it, and whether it is visible
// (a member that has not left) with the query's node meta.
func (v *discoveryView) node(name string) (api.CatalogNode, bool) {
	m, ok := v.members[name]
	if !ok {
		return api.CatalogNode{}, false
	}
	n := catalogNode(&m, v.dc)
	for k, val := range v.q.nodeMeta {
		if got, ok := n.Meta[k]; !ok || got != val {
			return api.CatalogNode{}, false
		}
	}
	return n, true
}

// instances returns the visible instances named name with all the
// query's tags, in order.
func (v *discoveryView) instances(name string) []catalog.NodeInstance {
	var out []catalog.NodeInstance
	for _, in := range v.snap.Instances {
		if in.Name != name {
			continue
		}
		if _, ok := v.node(in.Node); !ok {
			continue
		}
		if !slices.ContainsFunc(v.q.tags, func(t string) bool { return !slices.Contains(in.Tags, t) }) {
			out = append(out, in)
		}
	}
	return out
}

// serfCheck is a node's serfHealth: passing while its member is alive,
// suspect or leaving, critical once failed.
func serfCheck(m *gossip.Member) api.HealthCheck {
	c := api.HealthCheck{Node: m.Name, CheckID: serfCheckID, Name: serfCheckName, Status: catalog.StatusPassing,
		Output: "Agent alive and reachable", ServiceTags: []string{}, CreateIndex: 1, ModifyIndex: 1}
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
	out := []api.HealthCheck{serfCheck(&m)}
	for _, c := range v.snap.Checks {
		if c.Node != node || c.ServiceID != "" && serviceID != "" && c.ServiceID != serviceID {
			continue
		}
		out = append(out, healthCheck(&c, tags[node+"/"+c.ServiceID]))
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

// catalogServices answers GET /v1/catalog/services: every service name a
// visible node has an instance of, with the union of their tags.
func (a *API) catalogServices(w http.ResponseWriter, r *http.Request, v *discoveryView) {
	z := authorizer(r.Context())
	out := map[string][]string{}
	filtered := false
	for _, in := range v.snap.Instances {
		if _, ok := v.node(in.Node); !ok {
			continue
		}
		if !z.ServiceRead(in.Name) {
			filtered = true
			continue
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
	reportFiltered(w, z, filtered)
	writeJSON(w, out)
}

// catalogService answers GET /v1/catalog/service/<name>.
func (a *API) catalogService(w http.ResponseWriter, r *http.Request, v *discoveryView) {
	out := []api.CatalogService{}
	for _, in := range v.instances(r.PathValue("name")) {
		n, _ := v.node(in.Node)
		s := a.agentService(&in.Instance)
		out = append(out, api.CatalogService{
			ID: n.ID, Node: n.Node, Address: n.Address, Datacenter: n.Datacenter, TaggedAddresses: n.TaggedAddresses,
			NodeMeta: n.Meta, ServiceID: s.ID, ServiceName: s.Service, ServiceAddress: s.Address,
			ServiceTaggedAddresses: s.TaggedAddresses, ServiceTags: s.Tags, ServiceMeta: s.Meta, ServicePort: s.Port,
			ServiceWeights: s.Weights, ServiceEnableTagOverride: s.EnableTagOverride,
			CreateIndex: in.CreateIndex, ModifyIndex: in.ModifyIndex,
		})
	}
	writeJSON(w, out)
}

// healthService answers GET /v1/health/service/<name>.
func (a *API) healthService(w http.ResponseWriter, r *http.Request, v *discoveryView) {
	tags := v.tagsByInstance()
	out := []api.ServiceEntry{}
	for _, in := range v.instances(r.PathValue("name")) {
		n, _ := v.node(in.Node)
		s := a.agentService(&in.Instance)
		checks := v.nodeChecks(in.Node, in.ID, tags)
		if v.q.passing && slices.ContainsFunc(checks, func(c api.HealthCheck) bool { return c.Status != catalog.StatusPassing }) {
			continue
		}
		out = append(out, api.ServiceEntry{Node: &n, Service: &s, Checks: checks})
	}
	writeJSON(w, out)
}

// healthChecks answers GET /v1/health/checks/<service>: the checks of the
// service's visible instances.
func (a *API) healthChecks(w http.ResponseWriter, r *http.Request, v *discoveryView) {
	name := r.PathValue("name")
	tags := v.tagsByInstance()
	out := []api.HealthCheck{}
	for _, c := range v.snap.Checks {
		if _, ok := v.node(c.Node); ok && c.ServiceName == name {
			out = append(out, healthCheck(&c, tags[c.Node+"/"+c.ServiceID]))
		}
	}
	writeJSON(w, out)
}

// healthNode answers GET /v1/health/node/<node>: serfHealth and the
// node's checks the token may read.
func (a *API) healthNode(w http.ResponseWriter, r *http.Request, v *discoveryView) {
	out := []api.HealthCheck{}
	filtered := false
	z := authorizer(r.Context())
	if _, ok := v.node(r.PathValue("node")); ok {
		for _, c := range v.nodeChecks(r.PathValue("node"), "", v.tagsByInstance()) {
			if c.ServiceName != "" && !z.ServiceRead(c.ServiceName) {
				filtered = true
				continue
			}
			out = append(out, c)
		}
	}
	reportFiltered(w, z, filtered)
	writeJSON(w, out)
}

// healthState answers GET /v1/health/state/<state>: the checks in a
// state (any: every check) of every visible node, serfHealth included.
func (a *API) healthState(w http.ResponseWriter, r *http.Request, v *discoveryView) {
	state := r.PathValue("state")
	switch state {
	case "any", catalog.StatusPassing, catalog.StatusWarning, catalog.StatusCritical:
	default:
		a.fail(w, http.StatusBadRequest, fmt.Errorf("state %q: passing, warning, critical or any", state))
		return
	}
	z := authorizer(r.Context())
	tags := v.tagsByInstance()
	nodes := make([]string, 0, len(v.members))
	for name := range v.members {
		if _, ok := v.node(name); ok {
			nodes = append(nodes, name)
		}
	}
	slices.Sort(nodes)
	out := []api.HealthCheck{}
	filtered := false
	for _, node := range nodes {
		for _, c := range v.nodeChecks(node, "", tags) {
			if state != "any" && c.Status != state {
				continue
			}
			if c.ServiceName != "" && !z.ServiceRead(c.ServiceName) {
				filtered = true
				continue
			}
			out = append(out, c)
		}
	}
	reportFiltered(w, z, filtered)
	writeJSON(w, out)
}
