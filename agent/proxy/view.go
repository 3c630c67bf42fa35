package proxy

import (
	"context"
	"net"
	"strconv"
	"sync"

	"github.com/edgeplane/edgeplane/agent/catalog"
)

// Instance is one instance of a target service, as selection sees it.
type Instance struct {
	Node string
	// ID is the instance's service ID on Node.
	ID     string
	Site   string
	Weight int
}

func (in Instance) key() string { return in.Node + "/" + in.ID }

// View is what the proxy reads of the catalog and the membership. Every
// method answers from this node's replica and member table.
type View interface {
	// Healthy returns the instances of service whose checks all pass,
	// on nodes that are live members.
	Healthy(ctx context.Context, service string) ([]Instance, error)
	// Registered reports whether this replica holds an instance of
	// service registered by node.
	Registered(node, service string) bool
	// Local returns the address (host:port) of the instance id of
	// service registered on this node, and false when this node has no
	// such instance.
	Local(service, id string) (addr string, ok bool)
	// Member returns the site and RPC address of a live member.
	Member(node string) (site, rpcAddr string, ok bool)
}

// CatalogView is the View over the catalog's replica and the membership.
type CatalogView struct {
	// Read returns the catalog's current snapshot (catalog.Reader.Read
	// with after 0: a read of an unchanged store scans nothing).
	Read func(ctx context.Context) (catalog.Snapshot, error)
	// Members returns a live member's site and RPC address.
	Members func(node string) (site, rpcAddr string, ok bool)
	// LocalService returns an instance registered on this node by ID.
	LocalService func(id string) (catalog.Instance, bool)

	mu      sync.Mutex
	index   uint64                    // of the snapshot passing was built from
	passing map[string][]Instance     // by service name, liveness not applied
	byNode  map[string]map[string]int // node → service name → instances
}

// refresh rebuilds the passing instances when the snapshot changed.
func (v *CatalogView) refresh(ctx context.Context) error {
	snap, err := v.Read(ctx)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.passing != nil && snap.Index == v.index {
		return nil
	}
	ok := make(map[string]bool, len(snap.Checks)) // node/serviceID ("" for the node) → every check passing
	for i := range snap.Checks {
		c := &snap.Checks[i]
		k := c.Node + "/" + c.ServiceID
		pass := c.Status == catalog.StatusPassing
		if prev, seen := ok[k]; seen {
			pass = pass && prev
		}
		ok[k] = pass
	}
	passing := make(map[string][]Instance)
	byNode := make(map[string]map[string]int)
	for i := range snap.Instances {
		in := &snap.Instances[i]
		if byNode[in.Node] == nil {
			byNode[in.Node] = make(map[string]int)
		}
		byNode[in.Node][in.Name]++
		if p, seen := ok[in.Node+"/"+in.ID]; seen && !p {
			continue
		}
		if p, seen := ok[in.Node+"/"]; seen && !p {
			continue
		}
		passing[in.Name] = append(passing[in.Name], Instance{Node: in.Node, ID: in.ID, Weight: max(in.Weights.Passing, 1)})
	}
	v.index, v.passing, v.byNode = snap.Index, passing, byNode
	return nil
}

// Healthy implements View.
func (v *CatalogView) Healthy(ctx context.Context, service string) ([]Instance, error) {
	if err := v.refresh(ctx); err != nil {
		return nil, err
	}
	v.mu.Lock()
	all := v.passing[service]
	v.mu.Unlock()
	out := make([]Instance, 0, len(all))
	for _, in := range all {
		site, _, live := v.Members(in.Node)
		if !live {
			continue
		}
		in.Site = site
		out = append(out, in)
	}
	return out, nil
}

// Registered implements View.
func (v *CatalogView) Registered(node, service string) bool {
	if v.refresh(context.Background()) != nil {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.byNode[node][service] > 0
}

// Local implements View: the instance's own address, or loopback when it
// registered none.
func (v *CatalogView) Local(service, id string) (string, bool) {
	in, ok := v.LocalService(id)
	if !ok || in.Name != service || in.Port <= 0 {
		return "", false
	}
	host := in.Address
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(in.Port)), true
}

// Member implements View.
func (v *CatalogView) Member(node string) (string, string, bool) { return v.Members(node) }
