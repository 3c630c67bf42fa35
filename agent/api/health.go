package api

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// CatalogService is Consul's CatalogService: a service instance of a
// node, an element of GET /v1/catalog/service/<name>.
type CatalogService struct {
	ID                       string
	Node                     string
	Address                  string
	Datacenter               string
	TaggedAddresses          map[string]string
	NodeMeta                 map[string]string
	ServiceID                string
	ServiceName              string
	ServiceAddress           string
	ServiceTaggedAddresses   map[string]ServiceAddress `json:",omitempty"`
	ServiceTags              []string
	ServiceMeta              map[string]string
	ServicePort              int
	ServiceWeights           AgentWeights
	ServiceEnableTagOverride bool
	CreateIndex              uint64
	ModifyIndex              uint64
}

// HealthCheck is Consul's HealthCheck: a check of a node or of one of its
// service instances, as /v1/health/... return it.
type HealthCheck struct {
	Node        string
	CheckID     string
	Name        string
	Status      string
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	ServiceTags []string
	Type        string
	CreateIndex uint64
	ModifyIndex uint64
}

// ServiceEntry is Consul's ServiceEntry, an element of GET
// /v1/health/service/<name>: a node, one of its service instances and
// the checks of both.
type ServiceEntry struct {
	Node    *CatalogNode
	Service *AgentService
	Checks  []HealthCheck
}

// ServiceQuery narrows a discovery read: Tags (all of them, AND),
// NodeMeta (key:value, all of them), Site (only nodes of that site: the
// node meta site:<Site>, with NodeMeta's) and, for HealthService, Passing
// (only instances whose every check, the node's included, is passing).
type ServiceQuery struct {
	Tags     []string
	NodeMeta map[string]string
	Site     string
	Passing  bool
}

func (q ServiceQuery) values() url.Values {
	v := url.Values{}
	for _, t := range q.Tags {
		v.Add("tag", t)
	}
	for k, m := range q.NodeMeta {
		v.Add("node-meta", k+":"+m)
	}
	if q.Site != "" {
		v.Add("node-meta", "site:"+q.Site)
	}
	if q.Passing {
		v.Set("passing", "1")
	}
	return v
}

// CatalogServices returns every service name of the catalog with the
// union of its instances' tags.
func (c *Client) CatalogServices(ctx context.Context) (map[string][]string, error) {
	var out map[string][]string
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/catalog/services"}, &out)
	return out, err
}

// HealthService returns the instances of a service across the mesh with
// their checks, ordered by node then service ID.
func (c *Client) HealthService(ctx context.Context, name string, q ServiceQuery) ([]ServiceEntry, error) {
	var out []ServiceEntry
	err := c.do(ctx, request{method: http.MethodGet, path: healthServicePath(name), query: q.values()}, &out)
	return out, err
}

func healthServicePath(name string) string { return "/v1/health/service/" + url.PathEscape(name) }

// HealthList is the answer of HealthService and the index it was read at
// (X-Consul-Index: the largest local modify index of its instances, their
// checks and their nodes' membership, and of the service's last removed
// record).
type HealthList struct {
	Entries []ServiceEntry
	Index   uint64
}

// HealthServiceWatch ranges over blocking queries on the instances of a
// service, as HealthService reads them: the first answer comes at once,
// each later one when an instance, one of its checks or its node's
// membership changed (or a query's wait ran out), and holds every
// instance again. A change of another service wakes nobody. Failures,
// retries, an index that goes backwards and the end of the watch are as
// KV.Watch says.
func (c *Client) HealthServiceWatch(ctx context.Context, name string, q ServiceQuery, opts WatchOptions) iter.Seq2[HealthList, error] {
	return watch(ctx, opts, func(ctx context.Context, index uint64, wait time.Duration) (HealthList, uint64, error) {
		l, err := c.healthService(ctx, name, q, index, wait)
		return l, l.Index, err
	})
}

// healthService reads the instances of a service and the index they were
// read at. With index > 0 it is a blocking query: the agent answers once
// the answer's index passes index, or after wait.
func (c *Client) healthService(ctx context.Context, name string, q ServiceQuery, index uint64, wait time.Duration) (HealthList, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: healthServicePath(name), query: blockingQuery(q.values(), index, wait)})
	if err != nil {
		return HealthList{}, err
	}
	if err := statusError(resp); err != nil {
		return HealthList{}, err
	}
	defer resp.Body.Close()
	var l HealthList
	if l.Index, err = answerIndex(resp); err != nil {
		return HealthList{}, err
	}
	return l, decode(resp.Body, &l.Entries)
}

// CatalogNodeServices is Consul's CatalogNode, the answer of GET
// /v1/catalog/node/<node>: a node and its service instances by ID.
type CatalogNodeServices struct {
	Node     *CatalogNode
	Services map[string]AgentService
}

// CatalogNodeServiceList is Consul's CatalogNodeServiceList, the answer
// of GET /v1/catalog/node-services/<node>: a node and its service
// instances in ID order.
type CatalogNodeServiceList struct {
	Node     *CatalogNode
	Services []AgentService
}

// AgentServiceChecksInfo is Consul's AgentServiceChecksInfo, the answer
// of GET /v1/agent/health/service/...: a local instance, its checks and
// this node's, and their aggregated status.
type AgentServiceChecksInfo struct {
	AggregatedStatus string
	Service          *AgentService
	Checks           []HealthCheck
}
