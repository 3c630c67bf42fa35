package catalog

import (
	"errors"
	"fmt"

	"github.com/edgeplane/edgeplane/store"
)

// Source says where a registration came from.
type Source int

// Sources of registrations.
const (
	// SourceAPI is a registration through the local HTTP API.
	SourceAPI Source = iota
	// SourceConfig is a service definition of the agent's configuration
	// file: registered at start, re-registered or removed on reload.
	SourceConfig
)

func (s Source) String() string {
	if s == SourceConfig {
		return "config"
	}
	return "api"
}

// sourcePrefix marks, in the local bucket, the services registered from
// the configuration file: src/<serviceID>. A reload after a restart
// knows from it which registrations the configuration owns.
const sourcePrefix = "src/"

// markSource records where service id's registration came from: a mark
// for SourceConfig, none for SourceAPI. The entry is local only.
func (b *batch) markSource(id string, src Source) {
	b.add(op{local: sourcePrefix + id, localValue: []byte{byte(src)}, del: src != SourceConfig}, nil)
}

// putLocal writes or removes a local entry that has no record.
func putLocal(l *store.LocalTx, o *op) error {
	if o.del {
		return l.Delete(o.local)
	}
	return l.Put(o.local, o.localValue)
}

// ConfigServices returns the IDs of the services registered from the
// configuration file, sorted.
func (c *Catalog) ConfigServices() ([]string, error) {
	var ids []string
	err := c.cfg.Store.View(func(tx *store.Tx) error {
		return tx.Local(localBucket).Scan(sourcePrefix, func(key string, _ []byte) error {
			ids = append(ids, key[len(sourcePrefix):])
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: reading the configured services: %w", err)
	}
	return ids, nil
}

// SetConfigServices makes the services registered from the
// configuration file those of regs, as Consul does at start and on
// reload: each is registered (its checks replaced by those it lists), or
// updated in place when registered already, and a service registered
// from an earlier configuration that regs no longer holds is
// deregistered. Services registered through the API are left alone, but
// for one whose ID a definition of regs takes. A configured service
// deregistered through the API stays so until the next reload. Every
// registration is tried; the errors are joined.
func (c *Catalog) SetConfigServices(regs []Registration) error {
	before, err := c.ConfigServices()
	if err != nil {
		return err
	}
	var errs []error
	keep := make(map[string]bool, len(regs))
	for _, reg := range regs {
		reg.Source = SourceConfig
		keep[reg.Service.ID] = true
		if err := c.Register(reg, true); err != nil {
			errs = append(errs, fmt.Errorf("service %q: %w", reg.Service.ID, err))
		}
	}
	for _, id := range before {
		if keep[id] {
			continue
		}
		if _, ok := c.Service(id); !ok {
			// Deregistered through the API since: only the mark is left.
			err = c.dropMark(id)
		} else {
			err = c.Deregister(id)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("service %q: %w", id, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("catalog: configured services: %w", errors.Join(errs...))
	}
	return nil
}

// dropMark removes the configuration mark of a service not registered.
func (c *Catalog) dropMark(id string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return ErrClosed
	}
	var b batch
	b.markSource(id, SourceAPI)
	return c.commit(&b)
}
