package catalog

import "fmt"

// Maintenance mode, as Consul's: a critical check of the node, or of one
// of its services, whose notes say why. Discovery leaves the node's
// instances, or the service's, out of healthy answers while it stands.
// The check is kept in the local bucket as any other, so maintenance
// survives a restart.

// Maintenance checks, with Consul's IDs, names and default notes.
const (
	// CheckTypeMaintenance is the type of the maintenance checks.
	CheckTypeMaintenance = "maintenance"
	// NodeMaintCheckID is the ID of the node's maintenance check.
	NodeMaintCheckID = "_node_maintenance"
	// ServiceMaintCheckPrefix starts the ID of a service's maintenance
	// check: _service_maintenance:<serviceID>.
	ServiceMaintCheckPrefix = "_service_maintenance:"

	nodeMaintName    = "Node Maintenance Mode"
	serviceMaintName = "Service Maintenance Mode"

	// DefaultNodeMaintReason is the notes of a node maintenance check
	// enabled without a reason.
	DefaultNodeMaintReason = "Maintenance mode is enabled for this node, but no reason was provided. This is a default message."
	// DefaultServiceMaintReason is the notes of a service maintenance
	// check enabled without a reason.
	DefaultServiceMaintReason = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message."

	// MaxMaintReason is the longest reason accepted, in bytes: a check's
	// notes.
	MaxMaintReason = maxNotesLen
)

// ServiceMaintCheckID returns the ID of service serviceID's maintenance
// check.
func ServiceMaintCheckID(serviceID string) string { return ServiceMaintCheckPrefix + serviceID }

// EnableNodeMaintenance puts the node in maintenance: it adds the
// critical check NodeMaintCheckID, whose notes are reason (or
// DefaultNodeMaintReason). As Consul, it changes nothing when the node is
// in maintenance already. A reason longer than MaxMaintReason, or not
// printable UTF-8, is refused with an error wrapping ErrInvalid.
func (c *Catalog) EnableNodeMaintenance(reason string) error {
	return c.enableMaint(Check{ID: NodeMaintCheckID, Name: nodeMaintName}, reason, DefaultNodeMaintReason)
}

// DisableNodeMaintenance removes the node's maintenance check, if any.
func (c *Catalog) DisableNodeMaintenance() error { return c.disableMaint(NodeMaintCheckID) }

// EnableServiceMaintenance puts service serviceID in maintenance: it adds
// the critical check ServiceMaintCheckID(serviceID), whose notes are
// reason (or DefaultServiceMaintReason). It fails with ErrUnknownService
// for a service this node has not registered; otherwise as
// EnableNodeMaintenance.
func (c *Catalog) EnableServiceMaintenance(serviceID, reason string) error {
	return c.enableMaint(Check{ID: ServiceMaintCheckID(serviceID), Name: serviceMaintName, ServiceID: serviceID},
		reason, DefaultServiceMaintReason)
}

// DisableServiceMaintenance takes service serviceID out of maintenance.
// It fails with ErrUnknownService for a service this node has not
// registered.
func (c *Catalog) DisableServiceMaintenance(serviceID string) error {
	c.mu.RLock()
	known := c.services[serviceID] != nil
	c.mu.RUnlock()
	if !known {
		return fmt.Errorf("%w %q", ErrUnknownService, serviceID)
	}
	return c.disableMaint(ServiceMaintCheckID(serviceID))
}

func (c *Catalog) enableMaint(chk Check, reason, defaultReason string) error {
	if reason == "" {
		reason = defaultReason
	}
	if err := checkText("reason", reason, MaxMaintReason); err != nil {
		return invalid("%v", err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return ErrClosed
	}
	svcName := ""
	if chk.ServiceID != "" {
		in := c.services[chk.ServiceID]
		if in == nil {
			return fmt.Errorf("%w %q", ErrUnknownService, chk.ServiceID)
		}
		svcName = in.Name
	}
	if old := c.checks[chk.ID]; old != nil {
		if old.Type != CheckTypeMaintenance {
			return invalid("check ID %q is registered as a check of service %q", chk.ID, old.ServiceID)
		}
		return nil
	}
	if len(c.checks) >= MaxNodeChecks {
		return invalid("%d checks registered on this node, at most %d", len(c.checks), MaxNodeChecks)
	}
	chk.Type, chk.Status, chk.Notes = CheckTypeMaintenance, StatusCritical, reason
	cs := &checkState{Check: chk, written: c.clock.Now(), serviceNm: svcName}
	var b batch
	b.putCheck(c.cfg.Node, cs)
	if err := c.commit(&b); err != nil {
		return err
	}
	c.mu.Lock()
	c.checks[chk.ID] = cs
	c.mu.Unlock()
	return nil
}

func (c *Catalog) disableMaint(id string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.checks[id] == nil {
		return nil
	}
	var b batch
	b.deleteCheck(c.cfg.Node, id)
	if err := c.commit(&b); err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.checks, id)
	c.mu.Unlock()
	return nil
}
