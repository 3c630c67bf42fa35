package catalog

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"
)

// The catalog's goroutines: the TTL loop (run), which turns expired TTL
// checks critical, writes the outputs CheckUpdateInterval held back,
// deregisters the services of checks critical past their
// DeregisterCriticalServiceAfter and repairs this node's records changed
// elsewhere; the watch of the change feed, which tells it of those
// changes; and the runners of the checks the agent runs (runner.go).

// expire turns the checks whose TTL has passed critical and writes the
// outputs held back past CheckUpdateInterval. The TTL loop calls it.
func (c *Catalog) expire() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return
	}
	now := c.clock.Now()
	var b batch
	next := map[string]*checkState{}
	for id, old := range c.checks {
		cs := *old
		switch {
		case expired(&cs, now):
			cs.Status, cs.Output, cs.expiry = StatusCritical, expiredOutput(cs.Output), time.Time{}
			cs.markCritical(now)
		case cs.pending && !now.Before(cs.written.Add(c.cfg.CheckUpdateInterval)):
		default:
			continue
		}
		cs.written, cs.stored, cs.pending = now, cs.expiry, false
		b.putCheck(c.cfg.Node, &cs)
		next[id] = &cs
	}
	if len(next) == 0 {
		return
	}
	if err := c.commit(&b); err != nil {
		c.log.Error("writing the state of TTL checks", "err", err, "retry_in", writeRetry)
		c.retryAt = now.Add(writeRetry)
		return
	}
	c.mu.Lock()
	maps.Copy(c.checks, next)
	c.mu.Unlock()
}

func expired(cs *checkState, now time.Time) bool {
	return cs.Status != StatusCritical && !cs.expiry.IsZero() && !now.Before(cs.expiry)
}

// expiredOutput is Consul's output of a TTL check that expired.
func expiredOutput(last string) string {
	return CapOutput("TTL expired (last output before timeout follows): " + last)
}

// nextEvent returns when the TTL loop has work next.
func (c *Catalog) nextEvent() (time.Time, bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var next time.Time
	ok := false
	consider := func(t time.Time) {
		if !ok || t.Before(next) {
			next, ok = t, true
		}
	}
	for _, cs := range c.checks {
		if cs.Status != StatusCritical && !cs.expiry.IsZero() {
			consider(cs.expiry)
		}
		if cs.pending {
			consider(cs.written.Add(c.cfg.CheckUpdateInterval))
		}
		if reapAt, ok := cs.reapAt(); ok {
			consider(reapAt)
		}
	}
	if c.repairDue {
		consider(c.lastRepair.Add(repairEvery))
	}
	if !c.nextSync.IsZero() {
		consider(c.nextSync)
	}
	if ok && next.Before(c.retryAt) {
		next = c.retryAt
	}
	return next, ok
}

// run is the TTL loop: it sleeps until the next deadline or a change,
// until ctx ends.
func (c *Catalog) run(ctx context.Context) {
	defer close(c.done)
	for {
		var fire <-chan time.Time
		stop := func() {}
		if next, ok := c.nextEvent(); ok {
			fire, stop = c.clock.At(next)
		}
		select {
		case <-ctx.Done():
			stop()
			return
		case <-c.kick:
		case <-fire:
		}
		stop()
		c.expire()
		c.reap()
		c.repair()
		c.antiEntropy()
	}
}

// watch marks a repair due when the feed brings a change of this node's
// records from elsewhere, or lost changes, until ctx ends.
func (c *Catalog) watch(ctx context.Context) {
	defer close(c.watched)
	own := []string{ServiceKey(c.cfg.Node, ""), CheckKey(c.cfg.Node, "")}
	for {
		changes, resync, err := c.sub.Next(ctx)
		if err != nil {
			return
		}
		due := resync
		for i := range changes {
			ch := &changes[i]
			due = due || ch.Table == Table && (strings.HasPrefix(ch.Key, own[0]) || strings.HasPrefix(ch.Key, own[1]))
		}
		if due {
			c.wmu.Lock()
			c.repairDue = true
			c.wmu.Unlock()
			c.wake()
		}
	}
}

// repair makes Table agree with this node's state again (reconcile), at
// most every repairEvery.
func (c *Catalog) repair() {
	c.wmu.Lock()
	now := c.clock.Now()
	due := c.repairDue && !c.closed && !now.Before(c.lastRepair.Add(repairEvery))
	if due {
		c.repairDue, c.lastRepair = false, now
	}
	c.wmu.Unlock()
	if !due {
		return
	}
	if err := c.reconcile(); err != nil {
		c.log.Error("rewriting this node's catalog records changed elsewhere", "err", err, "retry_in", repairEvery)
		c.wmu.Lock()
		c.repairDue = true
		c.wmu.Unlock()
	}
}

// wake tells the TTL loop that deadlines changed.
func (c *Catalog) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// reapAt returns when the check's service is deregistered, should the
// check stay critical: DeregisterCriticalServiceAfter after it turned
// critical.
func (cs *checkState) reapAt() (time.Time, bool) {
	if cs.deregAfter <= 0 || cs.Status != StatusCritical || cs.criticalSince.IsZero() {
		return time.Time{}, false
	}
	return cs.criticalSince.Add(cs.deregAfter), true
}

// reap deregisters the services one of whose checks has been critical
// for its DeregisterCriticalServiceAfter, as Consul's reaper does (which
// looks every 30 seconds; this one at the deadline). The TTL loop calls
// it.
func (c *Catalog) reap() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return
	}
	now := c.clock.Now()
	for _, id := range slices.Sorted(maps.Keys(c.checks)) {
		cs := c.checks[id]
		if cs == nil {
			continue // its service was reaped in this round
		}
		at, ok := cs.reapAt()
		if !ok || now.Before(at) {
			continue
		}
		critical := now.Sub(cs.criticalSince)
		if err := c.deregister(cs.ServiceID); err != nil {
			c.log.Error("deregistering a service whose check is critical", "service", cs.ServiceID, "check", id, "err", err, "retry_in", writeRetry)
			c.retryAt = now.Add(writeRetry)
			return
		}
		c.log.Info("deregistered a service: its check was critical past DeregisterCriticalServiceAfter",
			"service", cs.ServiceID, "check", id, "critical_for", critical, "deregister_after", cs.deregAfter)
	}
}
