package catalog

import "fmt"

// The agent's own service: every agent registers AgentServiceID, and puts
// its own health on it (disk space, clock) as checks of type
// CheckTypeAgent, which the agent sets through SetAgentCheck. The agent's
// health is never a check of the node: a node check that is not passing
// takes every service of the node out of healthy discovery answers.

const (
	// AgentServiceID is the ID and name of the service every agent
	// registers for itself.
	AgentServiceID = "edgeplane"
	// CheckTypeAgent is the type of the checks the agent sets on its own
	// service.
	CheckTypeAgent = "edgeplane"
)

// setByAgent reports whether a check of type typ is set by the agent
// itself (maintenance mode, its own health), not registered with a
// service: re-registering the service keeps it, and no application
// reports it.
func setByAgent(typ string) bool { return typ == CheckTypeMaintenance || typ == CheckTypeAgent }

// SetAgentCheck sets a check of the agent's own service AgentServiceID:
// it is created, with chk's ID, name, status and output, the first time,
// and later calls change its status and output with the economy of every
// check (a new status is written at once, a new output at most every
// CheckUpdateInterval). It fails with ErrUnknownService until the agent's
// service is registered.
func (c *Catalog) SetAgentCheck(id, name, status, output string) error {
	if !ValidStatus(status) {
		return invalid("Status %q: passing, warning or critical", status)
	}
	output = CapOutput(output)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if old := c.checks[id]; old != nil {
		if old.Type != CheckTypeAgent || old.ServiceID != AgentServiceID {
			return invalid("check ID %q is registered as a check of service %q", id, old.ServiceID)
		}
		return c.setStatus(old, status, output, false)
	}
	in := c.services[AgentServiceID]
	if in == nil {
		return fmt.Errorf("%w %q", ErrUnknownService, AgentServiceID)
	}
	if len(c.checks) >= MaxNodeChecks {
		return invalid("%d checks registered on this node, at most %d", len(c.checks), MaxNodeChecks)
	}
	cs := &checkState{Check: Check{ID: id, Name: name, ServiceID: AgentServiceID, Type: CheckTypeAgent, Status: status, Output: output},
		written: c.clock.Now(), serviceNm: in.Name}
	var b batch
	b.putCheck(c.cfg.Node, cs)
	if err := c.commit(&b); err != nil {
		return err
	}
	c.mu.Lock()
	c.checks[id] = cs
	c.mu.Unlock()
	return nil
}

// RemoveAgentCheck removes a check SetAgentCheck set (one of a render
// block the configuration no longer has); it is a no-op for an unknown
// ID, and refuses a check of another kind.
func (c *Catalog) RemoveAgentCheck(id string) error {
	c.mu.RLock()
	old := c.checks[id]
	c.mu.RUnlock()
	if old != nil && old.Type != CheckTypeAgent {
		return invalid("check ID %q is not a check the agent sets", id)
	}
	return c.disableMaint(id)
}
