package render

import (
	"slices"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/store"
)

// Deps is what one render read: the KV keys and prefixes, the services
// and instances. A block renders again only when a change touches them.
type Deps struct {
	// Keys are the KV keys (and prefixes) read.
	Keys []store.WatchKey
	// Services are the names service read; Instances the node and ID of
	// every instance it returned or filtered out by health.
	Services  map[string]bool
	Instances map[[2]string]bool
	// Nodes are the nodes of Instances.
	Nodes map[string]bool
	// AllServices: services or nodes read the whole catalog.
	AllServices bool
}

func (d *Deps) watchKey(key string, prefix bool) {
	w := store.WatchKey{Key: key, Prefix: prefix}
	if !slices.Contains(d.Keys, w) {
		d.Keys = append(d.Keys, w)
	}
}

func (d *Deps) watchService(name string) {
	if d.Services == nil {
		d.Services = map[string]bool{}
	}
	d.Services[name] = true
}

func (d *Deps) watchInstance(node, id string) {
	if d.Instances == nil {
		d.Instances, d.Nodes = map[[2]string]bool{}, map[string]bool{}
	}
	d.Instances[[2]string{node, id}] = true
	d.Nodes[node] = true
}

func (d *Deps) watchAllServices() { d.AllServices = true }

// readsCatalog reports whether d depends on the service catalog (and so
// on membership).
func (d *Deps) readsCatalog() bool { return d.AllServices || len(d.Services) > 0 }

// Covers reports whether change c may change what d's render read.
func (d *Deps) Covers(c *store.Change) bool {
	switch c.Table {
	case store.TableKV:
		for _, k := range d.Keys {
			if k.Key == c.Key || k.Prefix && len(c.Key) >= len(k.Key) && c.Key[:len(k.Key)] == k.Key {
				return true
			}
		}
		return false
	case catalog.Table:
		return d.coversCatalog(c)
	}
	return false
}

func (d *Deps) coversCatalog(c *store.Change) bool {
	if !d.readsCatalog() {
		return false
	}
	if d.AllServices {
		return true
	}
	kind, node, id, ok := catalog.ParseKey(c.Key)
	if !ok {
		return false
	}
	live := !c.Deleted && !c.Removed()
	if kind == "svc" {
		if d.Instances[[2]string{node, id}] {
			return true
		}
		if !live {
			return false
		}
		in, err := catalog.DecodeInstance(c.Value)
		return err == nil && d.Services[in.Name]
	}
	if !d.Nodes[node] {
		return false
	}
	if !live {
		return true
	}
	chk, err := catalog.DecodeCheck(c.Value)
	if err != nil {
		return false
	}
	return chk.ServiceID == "" || d.Instances[[2]string{node, chk.ServiceID}]
}
