package render

import (
	"cmp"
	"slices"
	"strings"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/store"
)

// catalogView is the service catalog as one render's transaction reads
// it: every node's live instances and checks, sorted by node then ID.
// Records that do not decode, or whose key does not match, are skipped,
// as the discovery endpoints skip them.
type catalogView struct {
	instances []catalog.NodeInstance
	checks    []catalog.NodeCheck
}

func readCatalog(tx *store.Tx) (*catalogView, error) {
	v := &catalogView{}
	names := map[[2]string]string{}
	err := tx.Scan(catalog.Table, "svc/", func(e *store.Entry) error {
		kind, node, id, ok := catalog.ParseKey(e.Key)
		if e.Deleted || !ok || kind != "svc" {
			return nil
		}
		in, err := catalog.DecodeInstance(e.Value)
		if err != nil || in.ID != id {
			return nil
		}
		names[[2]string{node, id}] = in.Name
		v.instances = append(v.instances, catalog.NodeInstance{Node: node, Instance: in, CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex})
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = tx.Scan(catalog.Table, "chk/", func(e *store.Entry) error {
		kind, node, id, ok := catalog.ParseKey(e.Key)
		if e.Deleted || !ok || kind != "chk" {
			return nil
		}
		c, err := catalog.DecodeCheck(e.Value)
		name, known := names[[2]string{node, c.ServiceID}]
		if err != nil || c.ID != id || c.ServiceID != "" && !known {
			return nil
		}
		v.checks = append(v.checks, catalog.NodeCheck{Node: node, Check: c, ServiceName: name, CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(v.instances, func(a, b catalog.NodeInstance) int {
		return cmp.Or(strings.Compare(a.Node, b.Node), strings.Compare(a.ID, b.ID))
	})
	return v, nil
}
