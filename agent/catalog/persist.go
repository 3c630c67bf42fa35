package catalog

import (
	"bytes"
	"fmt"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

// The local bucket "services" holds what this node's API registered, the
// authority Table's records of this node are made from:
//
//	svc/<serviceID>  the Instance, as its record
//	chk/<checkID>    a localCheck: the check's record, its TTL and
//	                 deadline or the definition of the check the agent
//	                 runs, its DeregisterCriticalServiceAfter
//
// The time a check turned critical is not kept: after a restart,
// DeregisterCriticalServiceAfter counts from the start.

// localCheck is a check as the local bucket keeps it.
type localCheck struct {
	Check      Check        `cbor:"1,keyasint"`
	TTL        int64        `cbor:"2,keyasint"`           // milliseconds
	Expiry     int64        `cbor:"3,keyasint,omitempty"` // Unix milliseconds; 0: none
	Active     *ActiveCheck `cbor:"4,keyasint,omitempty"`
	DeregAfter int64        `cbor:"5,keyasint,omitempty"` // milliseconds
}

// op is one write of a batch: a local entry and its record in Table, put
// or removed.
type op struct {
	local, key string
	localValue []byte
	value      []byte // the record's; nil with del
	del        bool
}

// batch is the writes of one change, committed in one transaction.
type batch struct {
	ops []op
	err error
}

func (b *batch) putService(node string, in *Instance) {
	v, err := EncodeInstance(in)
	b.add(op{local: servicePrefix + in.ID, key: ServiceKey(node, in.ID), localValue: v, value: v}, err)
}

func (b *batch) putCheck(node string, cs *checkState) {
	v, err := EncodeCheck(&cs.Check)
	lc := localCheck{Check: cs.Check, TTL: cs.ttl.Milliseconds(), Active: cs.active, DeregAfter: cs.deregAfter.Milliseconds()}
	if !cs.expiry.IsZero() {
		lc.Expiry = cs.expiry.UnixMilli()
	}
	lv, lerr := recordEnc.Marshal(&lc)
	if err == nil {
		err = lerr
	}
	b.add(op{local: checkPrefix + cs.ID, key: CheckKey(node, cs.ID), localValue: lv, value: v}, err)
}

func (b *batch) deleteService(node, id string) {
	b.add(op{local: servicePrefix + id, key: ServiceKey(node, id), del: true}, nil)
}

func (b *batch) deleteCheck(node, id string) {
	b.add(op{local: checkPrefix + id, key: CheckKey(node, id), del: true}, nil)
}

func (b *batch) add(o op, err error) {
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("catalog: encoding %s: %w", o.key, err)
	}
	b.ops = append(b.ops, o)
}

// commit writes a batch in one transaction, one fsync, leaving out the
// entries and records that already hold what it would write: a change
// that changes nothing writes nothing.
func (c *Catalog) commit(b *batch) error {
	if b.err != nil {
		return b.err
	}
	if len(b.ops) == 0 {
		return nil
	}
	return c.cfg.Store.Update(func(tx *store.Tx) error {
		l := tx.Local(localBucket)
		for _, o := range b.ops {
			if o.key == "" {
				// A local entry alone (markSource).
				if err := putLocal(l, &o); err != nil {
					return err
				}
				continue
			}
			e, found, err := tx.Get(Table, o.key)
			if err != nil {
				return err
			}
			live := found && !e.Deleted
			if o.del {
				if err := l.Delete(o.local); err != nil {
					return err
				}
				if live {
					if _, err := tx.Delete(Table, o.key); err != nil {
						return err
					}
				}
				continue
			}
			if old, ok, err := l.Get(o.local); err != nil {
				return err
			} else if !ok || !bytes.Equal(old, o.localValue) {
				if err := l.Put(o.local, o.localValue); err != nil {
					return err
				}
			}
			if !live || !bytes.Equal(e.Value, o.value) {
				if _, err := tx.Put(Table, o.key, o.value, 0); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// load reads the local bucket. A check whose deadline passed while the
// agent was down is critical from now on (reconcile writes it); a
// deadline further ahead than its TTL, as after a boot with the clock
// set back, is brought back to one TTL from now.
func (c *Catalog) load() error {
	c.services = map[string]*Instance{}
	c.checks = map[string]*checkState{}
	now := c.clock.Now()
	return c.cfg.Store.View(func(tx *store.Tx) error {
		l := tx.Local(localBucket)
		err := l.Scan(servicePrefix, func(key string, v []byte) error {
			in, err := DecodeInstance(v)
			if err != nil {
				return fmt.Errorf("catalog: local %s: %w", key, err)
			}
			c.services[in.ID] = &in
			return nil
		})
		if err != nil {
			return err
		}
		return l.Scan(checkPrefix, func(key string, v []byte) error {
			var lc localCheck
			if err := recordDec.Unmarshal(v, &lc); err != nil {
				return fmt.Errorf("catalog: local %s: %w", key, err)
			}
			if err := lc.validate(); err != nil {
				return fmt.Errorf("catalog: local %s: %w", key, err)
			}
			svc := c.services[lc.Check.ServiceID]
			if svc == nil && lc.Check.ServiceID != "" {
				return nil // an orphan: reconcile removes it
			}
			cs := &checkState{Check: lc.Check, ttl: time.Duration(lc.TTL) * time.Millisecond, active: lc.Active,
				deregAfter: time.Duration(lc.DeregAfter) * time.Millisecond, written: now}
			if svc != nil {
				cs.serviceNm = svc.Name
			}
			if lc.Expiry != 0 {
				cs.expiry = time.UnixMilli(lc.Expiry)
				if cs.expiry.Sub(now) > cs.ttl {
					cs.expiry = now.Add(cs.ttl)
				}
			}
			if expired(cs, now) {
				cs.Status, cs.Output, cs.expiry = StatusCritical, expiredOutput(cs.Output), time.Time{}
			}
			if cs.active != nil && !c.mayRun(cs.active) {
				cs.Status, cs.Output = StatusCritical, scriptsDisabled
			}
			cs.markCritical(now)
			c.checks[cs.ID] = cs
			return nil
		})
	})
}

// reconcile makes Table's records of this node, and the local bucket,
// hold the state load read: records this node no longer registers become
// tombstones, missing or different ones are written, orphan local
// entries are removed. When everything agrees, it writes nothing.
func (c *Catalog) reconcile() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var b batch
	for _, in := range c.services {
		b.putService(c.cfg.Node, in)
	}
	for _, cs := range c.checks {
		cs.stored = cs.expiry
		b.putCheck(c.cfg.Node, cs)
	}
	err := c.cfg.Store.View(func(tx *store.Tx) error {
		err := tx.Scan(Table, ServiceKey(c.cfg.Node, ""), func(e *store.Entry) error {
			if id := e.Key[len(ServiceKey(c.cfg.Node, "")):]; !e.Deleted && c.services[id] == nil {
				b.deleteService(c.cfg.Node, id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Scan(Table, CheckKey(c.cfg.Node, ""), func(e *store.Entry) error {
			if id := e.Key[len(CheckKey(c.cfg.Node, "")):]; !e.Deleted && c.checks[id] == nil {
				b.deleteCheck(c.cfg.Node, id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Local(localBucket).Scan(checkPrefix, func(key string, _ []byte) error {
			if id := key[len(checkPrefix):]; c.checks[id] == nil {
				b.deleteCheck(c.cfg.Node, id)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("catalog: reading this node's records: %w", err)
	}
	if err := c.commit(&b); err != nil {
		return fmt.Errorf("catalog: writing this node's records: %w", err)
	}
	return nil
}

// scriptsDisabled is the output of a script check registered earlier that
// this agent no longer runs.
const scriptsDisabled = "Script checks are disabled on this agent (enable_local_script_checks is off): not run"

// validate checks a local entry: its record, and its TTL or definition.
func (lc *localCheck) validate() error {
	if err := lc.Check.validate(); err != nil {
		return err
	}
	if lc.DeregAfter < 0 {
		return fmt.Errorf("DeregisterCriticalServiceAfter %dms: negative", lc.DeregAfter)
	}
	if lc.Active == nil {
		if setByAgent(lc.Check.Type) && lc.TTL == 0 {
			return nil // set by the agent: no TTL, no runs
		}
		if lc.Check.Type != CheckTypeTTL || lc.TTL <= 0 {
			return fmt.Errorf("a %s check without a definition", lc.Check.Type)
		}
		return nil
	}
	if lc.Check.Type != lc.Active.Type {
		return fmt.Errorf("a %s check defined as %s", lc.Check.Type, lc.Active.Type)
	}
	return lc.Active.validate()
}
