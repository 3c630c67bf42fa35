package render

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	template "github.com/edgeplane/edgeplane/agent/render/internal/tmpl"
	"maps"
	"slices"
	"strings"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/layers"
	"github.com/edgeplane/edgeplane/agent/schema"
	"github.com/edgeplane/edgeplane/store"
)

// KeyPair is a key of ls and tree, as consul-template's (fields in its
// order, so toJSON writes the same): Key is relative to the prefix
// listed, Path the whole key. LockIndex and Session are always empty:
// the store has no sessions.
type KeyPair struct {
	Path        string
	Key         string
	Value       string
	CreateIndex uint64
	ModifyIndex uint64
	LockIndex   uint64
	Flags       uint64
	Session     string
}

// HealthService is an instance of service, as consul-template v0.41's
// (fields in its order): its node as nodes shows it, the instance, its
// checks and their aggregated status.
type HealthService struct {
	Node                string
	NodeID              string
	NodeAddress         string
	NodeTaggedAddresses map[string]string
	NodeMeta            map[string]string
	ServiceMeta         map[string]string
	// Address is the instance's address, or its node's when it has none.
	Address                string
	ServiceTaggedAddresses map[string]ServiceAddress
	ID                     string
	Name                   string
	Tags                   []string // sorted
	Checks                 []HealthCheck
	Status                 string // passing, warning, critical or maintenance
	Port                   int
	Weights                catalog.Weights
}

// ServiceAddress is a tagged address of an instance.
type ServiceAddress struct {
	Address string
	Port    int
}

// HealthCheck is a check of an instance or of its node, the node's
// serfHealth first, as the HTTP API lists them.
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
}

// CatalogService is an entry of services: a name and the tags of all its
// instances, sorted.
type CatalogService struct {
	Name string
	Tags []string
}

// Node is an entry of nodes, as consul-template's: a member of the mesh
// as the catalog shows it (its Meta the node's tags and its site).
type Node struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
}

// Member is a node of the mesh as Config.Members lists it.
type Member struct {
	Node
	// Failed: its serfHealth check is critical. Left: it left the mesh;
	// its instances are not listed, as the HTTP API does not list them.
	Failed, Left bool
}

// Names are what nodeName, site and nodeTags return.
type Names struct {
	Node, Site string
	Tags       map[string]string
}

// Vetter serves a KV entry through its schema (schema.Guard.Vet): the
// stored value, or the last good one, or nothing.
type Vetter interface {
	Vet(tx *store.Tx, e store.Entry) (schema.Verdict, bool, error)
}

// ErrMissing is the error a render stops with when key or resolve reads
// a key that does not exist: the block waits for it.
var ErrMissing = errors.New("render: waiting for a key")

// funcNames are the template functions.
var funcNames = []string{"key", "keyOrDefault", "keyExists", "ls", "tree", "service", "services", "nodes", "env",
	"resolve", "nodeName", "site", "nodeTags", "parseJSON", "toJSON"}

// funcStubs lets a template parse before it is given a reader.
var funcStubs = func() template.FuncMap {
	m := template.FuncMap{}
	for _, n := range funcNames {
		m[n] = func(...any) (any, error) { return nil, nil }
	}
	return m
}()

// reader is one render's view of the store: it serves the template
// functions from one read transaction and records what they read.
type reader struct {
	tx       *store.Tx
	vet      Vetter
	resolver *layers.Resolver
	names    Names
	members  func() []Member
	getenv   func(string) string

	deps     Deps
	missing  []string // keys waited for
	lastGood []string // keys served their last good value
	snap     *catalogView
	nodeSet  map[string]Member // by name, built on first use
}

func (r *reader) funcs() template.FuncMap {
	return template.FuncMap{
		"key":          r.key,
		"keyOrDefault": r.keyOrDefault,
		"keyExists":    r.keyExists,
		"ls":           r.ls,
		"tree":         r.tree,
		"service":      r.service,
		"services":     r.services,
		"nodes":        r.nodes,
		"env":          r.env,
		"resolve":      r.resolve,
		"nodeName":     func() string { return r.names.Node },
		"site":         func() string { return r.names.Site },
		"nodeTags":     func() map[string]string { return maps.Clone(r.names.Tags) },
		"parseJSON":    parseJSON,
		"toJSON":       toJSON,
	}
}

// get reads key through its schema: the value served, and whether there
// is one.
func (r *reader) get(key string) (string, bool, error) {
	r.deps.watchKey(key, false)
	e, found, err := r.tx.Get(store.TableKV, key)
	if err != nil || !found || e.Deleted {
		return "", false, err
	}
	v, usable, err := r.vetted(e)
	if err != nil || !usable {
		return "", false, err
	}
	return string(v.Value), true, nil
}

// vetted serves e through the schema guard, noting a last good value.
func (r *reader) vetted(e store.Entry) (store.Entry, bool, error) {
	if r.vet == nil {
		return e, true, nil
	}
	r.deps.watchKey(schema.Prefix, true)
	v, usable, err := r.vet.Vet(r.tx, e)
	if err != nil {
		return store.Entry{}, false, err
	}
	if v.LastGood { // unusable: no good value at all, as if missing
		r.lastGood = append(r.lastGood, e.Key+": "+v.Rule)
	}
	return v.Entry, usable, nil
}

func (r *reader) key(key string) (string, error) {
	v, ok, err := r.get(key)
	if err != nil {
		return "", err
	}
	if !ok {
		r.missing = append(r.missing, key)
		return "", fmt.Errorf("%w: %q", ErrMissing, key)
	}
	return v, nil
}

func (r *reader) keyOrDefault(key, def string) (string, error) {
	v, ok, err := r.get(key)
	if err != nil || !ok || v == "" { // consul-template's: an empty value is the default too
		return def, err
	}
	return v, nil
}

func (r *reader) keyExists(key string) (bool, error) {
	_, ok, err := r.get(key)
	return ok, err
}

// list returns the live keys under prefix (consul-template lists
// "prefix/"), recursively or only the first level.
func (r *reader) list(prefix string, recursive bool) ([]KeyPair, error) {
	if prefix == "" { // consul-template's: nothing
		return []KeyPair{}, nil
	}
	prefix = strings.TrimPrefix(prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	r.deps.watchKey(prefix, true)
	var out []KeyPair
	bytes := 0
	err := r.tx.Scan(store.TableKV, prefix, func(e *store.Entry) error {
		rel := e.Key[len(prefix):]
		if e.Deleted || rel == "" || strings.HasSuffix(rel, "/") || !recursive && strings.Contains(rel, "/") {
			return nil
		}
		if bytes += len(e.Key) + len(e.Value); bytes > MaxOutputBytes {
			return fmt.Errorf("render: more than %d bytes under %q", MaxOutputBytes, prefix)
		}
		v, usable, err := r.vetted(*e)
		if err != nil || !usable {
			return err
		}
		out = append(out, KeyPair{Path: e.Key, Key: rel, Value: string(v.Value), CreateIndex: v.CreateIndex,
			ModifyIndex: v.ModifyIndex, Flags: v.Flags})
		return nil
	})
	return out, err
}

func (r *reader) ls(prefix string) ([]KeyPair, error)   { return r.list(prefix, false) }
func (r *reader) tree(prefix string) ([]KeyPair, error) { return r.list(prefix, true) }

// resolve looks key up through the config centre's layers, each layer's
// value served through its schema; a key no layer holds holds the block.
func (r *reader) resolve(key string) (string, error) {
	if r.resolver == nil {
		return "", errors.New("render: resolve: no layers configured")
	}
	q := layers.Query{Key: key}
	for _, w := range r.resolver.Watched(q) {
		r.deps.watchKey(w.Key, w.Prefix)
	}
	res, err := r.resolver.Resolve(r.tx, q)
	if err != nil {
		return "", err
	}
	for _, c := range res.Candidates {
		if !c.Held {
			continue
		}
		e, usable, err := r.vetted(c.Entry)
		if err != nil {
			return "", err
		}
		if usable {
			return string(e.Value), nil
		}
	}
	r.missing = append(r.missing, key)
	return "", fmt.Errorf("%w: %q in no layer", ErrMissing, key)
}

func (r *reader) env(name string) string { return r.getenv(name) }

// catalog reads the service catalog once per render.
func (r *reader) catalog() (*catalogView, error) {
	if r.snap == nil {
		snap, err := readCatalog(r.tx)
		if err != nil {
			return nil, err
		}
		r.snap = snap
	}
	return r.snap, nil
}

func (r *reader) service(query string, more ...string) ([]HealthService, error) {
	if len(more) > 0 { // consul-template's second argument: the filter
		query += "|" + strings.Join(more, ",")
	}
	q, err := ParseServiceQuery(query)
	if err != nil {
		return nil, err
	}
	r.deps.watchService(q.Name)
	snap, err := r.catalog()
	if err != nil {
		return nil, err
	}
	checks := map[[2]string][]catalog.NodeCheck{} // node, service ID ("" for the node's)
	for _, c := range snap.checks {
		k := [2]string{c.Node, c.ServiceID}
		checks[k] = append(checks[k], c)
	}
	var out []HealthService
	for _, in := range snap.instances {
		if in.Name != q.Name || q.Tag != "" && !slices.Contains(in.Tags, q.Tag) {
			continue
		}
		r.deps.watchInstance(in.Node, in.ID)
		m, visible := r.member(in.Node)
		if !visible {
			continue
		}
		hs := HealthService{Node: in.Node, NodeID: m.ID, NodeAddress: m.Address,
			NodeTaggedAddresses: maps.Clone(m.TaggedAddresses), NodeMeta: maps.Clone(m.Meta),
			ServiceMeta: maps.Clone(in.Meta), Address: in.Address, ID: in.ID, Name: in.Name,
			Tags: slices.Sorted(slices.Values(in.Tags)), Port: in.Port, Weights: in.Weights}
		if hs.Address == "" {
			hs.Address = hs.NodeAddress
		}
		if hs.ServiceMeta == nil {
			hs.ServiceMeta = map[string]string{}
		}
		if hs.Tags == nil {
			hs.Tags = []string{}
		}
		if len(in.TaggedAddresses) > 0 {
			hs.ServiceTaggedAddresses = make(map[string]ServiceAddress, len(in.TaggedAddresses))
			for k, a := range in.TaggedAddresses {
				hs.ServiceTaggedAddresses[k] = ServiceAddress(a)
			}
		}
		hs.Checks = append(hs.Checks, serfCheck(in.Node, m.Failed))
		for _, c := range slices.Concat(checks[[2]string{in.Node, ""}], checks[[2]string{in.Node, in.ID}]) {
			tags := []string{}
			if c.ServiceID != "" {
				tags = append(tags, in.Tags...)
			}
			hs.Checks = append(hs.Checks, HealthCheck{Node: c.Node, CheckID: c.ID, Name: c.Name, Status: c.Status,
				Notes: c.Notes, Output: c.Output, ServiceID: c.ServiceID, ServiceName: c.ServiceName, ServiceTags: tags, Type: c.Type})
		}
		hs.Status = aggregate(hs.Checks, checks[[2]string{in.Node, ""}], checks[[2]string{in.Node, in.ID}])
		if q.keeps(hs.Status) {
			out = append(out, hs)
		}
	}
	slices.SortStableFunc(out, func(a, b HealthService) int {
		return cmp.Or(strings.Compare(a.Node, b.Node), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// aggregate is an instance's status: maintenance when a maintenance check
// holds it, else the worst of its checks.
func aggregate(all []HealthCheck, lists ...[]catalog.NodeCheck) string {
	for _, l := range lists {
		for _, c := range l {
			if c.Type == catalog.CheckTypeMaintenance {
				return "maintenance"
			}
		}
	}
	status := catalog.StatusPassing
	for _, c := range all {
		switch {
		case c.Status == catalog.StatusCritical:
			return catalog.StatusCritical
		case c.Status == catalog.StatusWarning:
			status = catalog.StatusWarning
		}
	}
	return status
}

// serfCheck is a node's serfHealth, as the HTTP API shows it: passing
// unless its member failed.
func serfCheck(node string, failed bool) HealthCheck {
	c := HealthCheck{Node: node, CheckID: "serfHealth", Name: "Serf Health Status", Status: catalog.StatusPassing,
		Output: "Agent alive and reachable", ServiceTags: []string{}}
	if failed {
		c.Status, c.Output = catalog.StatusCritical, "Agent not live or unreachable"
	}
	return c
}

// member returns a node as nodes shows it, and whether its instances are
// listed: not when it left the mesh. A node the mesh does not know (this
// agent restarted cut off) is listed by its name alone, alive: the
// records it holds are all there is to render from.
func (r *reader) member(node string) (Member, bool) {
	if r.nodeSet == nil {
		r.nodeSet = map[string]Member{}
		if r.members != nil {
			for _, m := range r.members() {
				r.nodeSet[m.Node.Node] = m
			}
		}
	}
	m, ok := r.nodeSet[node]
	if !ok {
		return Member{Node: Node{Node: node}}, true
	}
	return m, !m.Left
}

func (r *reader) services() ([]CatalogService, error) {
	r.deps.watchAllServices()
	snap, err := r.catalog()
	if err != nil {
		return nil, err
	}
	tags := map[string]map[string]bool{}
	for _, in := range snap.instances {
		if _, visible := r.member(in.Node); !visible {
			continue
		}
		if tags[in.Name] == nil {
			tags[in.Name] = map[string]bool{}
		}
		for _, t := range in.Tags {
			tags[in.Name][t] = true
		}
	}
	out := make([]CatalogService, 0, len(tags))
	for _, name := range slices.Sorted(maps.Keys(tags)) {
		t := slices.Sorted(maps.Keys(tags[name]))
		if t == nil {
			t = []string{} // toJSON writes [], as consul-template's
		}
		out = append(out, CatalogService{Name: name, Tags: t})
	}
	return out, nil
}

// nodes lists the mesh's members that have not left, sorted by name then
// address; without a member list, every node that holds a record.
func (r *reader) nodes() ([]Node, error) {
	r.deps.watchAllServices()
	out := []Node{}
	if r.members != nil {
		for _, m := range r.members() {
			if !m.Left {
				n := m.Node
				n.TaggedAddresses, n.Meta = maps.Clone(n.TaggedAddresses), maps.Clone(n.Meta)
				out = append(out, n)
			}
		}
		slices.SortStableFunc(out, func(a, b Node) int {
			return cmp.Or(strings.Compare(a.Node, b.Node), strings.Compare(a.Address, b.Address))
		})
		return out, nil
	}
	snap, err := r.catalog()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, in := range snap.instances {
		seen[in.Node] = true
	}
	for _, c := range snap.checks {
		seen[c.Node] = true
	}
	for _, n := range slices.Sorted(maps.Keys(seen)) {
		out = append(out, Node{Node: n})
	}
	return out, nil
}

// parseJSON decodes s, as consul-template's.
func parseJSON(s string) (any, error) {
	if s == "" {
		return map[string]any{}, nil
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("parseJSON: %w", err)
	}
	return v, nil
}

// toJSON encodes v, as consul-template's.
func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("toJSON: %w", err)
	}
	return string(b), nil
}
