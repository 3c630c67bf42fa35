package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

// DefaultCheckUpdateInterval is Consul's check_update_interval: a check
// whose status stays the same has its output written at most this often.
const DefaultCheckUpdateInterval = 5 * time.Minute

// writeRetry is how long the TTL loop waits after a write failed (a full
// disk) before it tries the writes it owes again.
const writeRetry = 5 * time.Second

// repairEvery is the least time between two repairs of this node's
// records changed elsewhere, so that two nodes given the same name cannot
// rewrite each other's records at more than this pace.
const repairEvery = 10 * time.Second

// feedQueue is the size of the catalog's subscription to the change feed.
const feedQueue = 256

// Errors the API branches on.
var (
	// ErrUnknownService reports a service ID this node has not registered.
	ErrUnknownService = errors.New("unknown service ID")
	// ErrUnknownCheck reports a check ID this node has not registered.
	ErrUnknownCheck = errors.New("unknown check ID")
	// ErrClosed reports a call after Close.
	ErrClosed = errors.New("catalog: closed")
)

// localBucket is the local bucket of what this node's API registered.
const localBucket = "services"

// Config is what a Catalog is built from.
type Config struct {
	// Store holds Table and the local bucket "services". Required.
	Store *store.Store
	// Node is this node's name, the <node> of its records' keys.
	// Required; it holds no '/'.
	Node string
	// Clock defaults to SystemClock.
	Clock Clock
	// CheckUpdateInterval: a check whose status stays the same has its
	// output, and its TTL deadline, written at most this often. Default
	// DefaultCheckUpdateInterval.
	CheckUpdateInterval time.Duration
	// EnableLocalScriptChecks lets script checks run: Register refuses
	// them without it, and one registered earlier stays critical. Script
	// checks come only from the agent's configuration files
	// (ParseOptions.LocalScriptChecks); the API refuses them always.
	EnableLocalScriptChecks bool
	// Log defaults to slog.Default().
	Log *slog.Logger
	// SyncInterval is how often anti-entropy makes Table agree with the
	// local bucket again (Consul's catalog sync): records of this node
	// that are missing or differ are rewritten, those the bucket lacks
	// become tombstones. Default DefaultSyncInterval.
	SyncInterval time.Duration
	// Services are the services of the configuration file, registered by
	// Start (see SetConfigServices).
	Services []Registration
}

// Validate checks cfg; its errors name the field.
func (cfg *Config) Validate() error {
	switch {
	case cfg.Store == nil:
		return errors.New("catalog: Config.Store is required")
	case cfg.Node == "" || strings.Contains(cfg.Node, "/") || len(cfg.Node) > store.MaxKeyLen/4:
		return fmt.Errorf("catalog: Config.Node %q: a node name, without '/'", cfg.Node)
	case cfg.CheckUpdateInterval < 0:
		return fmt.Errorf("catalog: Config.CheckUpdateInterval %v: negative", cfg.CheckUpdateInterval)
	case cfg.SyncInterval < 0:
		return fmt.Errorf("catalog: Config.SyncInterval %v: negative", cfg.SyncInterval)
	}
	return nil
}

// Catalog is this node's part of the service catalog: the services and
// checks registered through its API, kept in the local bucket and
// published in Table, and the TTL checks' deadlines. Build it with New;
// it is an agent component (Start, Close).
type Catalog struct {
	cfg   Config
	clock Clock
	log   *slog.Logger

	// wmu serialises changes: each computes the writes from the state,
	// commits them, then applies them to the state under mu.
	wmu      sync.Mutex
	mu       sync.RWMutex
	services map[string]*Instance
	checks   map[string]*checkState
	closed   bool
	retryAt  time.Time // the TTL loop waits for it after a failed write

	// repairDue: a record of this node was changed elsewhere since the
	// last repair, at lastRepair.
	repairDue  bool
	lastRepair time.Time
	// nextSync is when anti-entropy runs next (sync.go).
	nextSync time.Time

	sub     *store.Subscription // changes from elsewhere
	reader  *Reader             // every node's records, for discovery (read.go)
	kick    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{} // run has returned
	watched chan struct{} // watch has returned

	// The runners of the checks the agent runs (runner.go), by check ID;
	// runCtx is their parent, set by Start.
	runners map[string]*runner
	runCtx  context.Context
	runWG   sync.WaitGroup
	armed   func(checkID string) // tests: a runner waits for its next run
}

// checkState is a check as this node knows it: its record, its TTL and
// deadline or its definition, and how its record stands on disk.
type checkState struct {
	Check
	ttl        time.Duration
	active     *ActiveCheck  // nil for a TTL check
	deregAfter time.Duration // DeregisterCriticalServiceAfter
	expiry     time.Time     // zero: no deadline (critical, or never reported)
	written    time.Time     // when its records were last written
	stored     time.Time     // the expiry on disk
	pending    bool          // an output not yet written
	serviceNm  string
	// criticalSince is when the check last turned critical, zero when it
	// is not; in memory only: after a restart it counts from the start.
	criticalSince time.Time
}

// markCritical keeps criticalSince: now when the check just turned
// critical, zero when it is not critical.
func (cs *checkState) markCritical(now time.Time) {
	switch {
	case cs.Status != StatusCritical:
		cs.criticalSince = time.Time{}
	case cs.criticalSince.IsZero():
		cs.criticalSince = now
	}
}

// New reads this node's registrations from the local bucket. A TTL
// deadline that passed while the agent was down turns its check critical
// when Start reconciles Table.
func New(cfg Config) (*Catalog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.CheckUpdateInterval == 0 {
		cfg.CheckUpdateInterval = DefaultCheckUpdateInterval
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	c := &Catalog{cfg: cfg, clock: cfg.Clock, log: cfg.Log, kick: make(chan struct{}, 1), done: make(chan struct{}),
		runners: map[string]*runner{}, reader: NewReader(cfg.Store)}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// Start makes Table hold exactly what the local bucket says of this node
// (writing only what differs), registers the configured services
// (Config.Services), then runs until Close the TTL loop, anti-entropy
// every SyncInterval, the runners of the checks the agent runs and a
// watch of the change feed: a record of this node that another node
// changes (a stale copy restored, a node that held this name) is written
// back, or removed, within repairEvery.
func (c *Catalog) Start(ctx context.Context) error {
	c.sub = c.cfg.Store.Subscribe("catalog", feedQueue, store.SourceRemote, store.SourceRestore)
	if err := c.reconcile(); err != nil {
		c.sub.Close()
		return err
	}
	if err := c.SetConfigServices(c.cfg.Services); err != nil {
		c.sub.Close()
		return err
	}
	c.wmu.Lock()
	c.nextSync = c.clock.Now().Add(c.cfg.SyncInterval)
	c.wmu.Unlock()
	loop, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.watched = make(chan struct{})
	go c.run(loop)
	go c.watch(loop)
	c.wmu.Lock()
	c.runCtx = loop
	c.syncRunners()
	c.wmu.Unlock()
	return nil
}

// Close stops the TTL loop and every runner, waiting for them, then
// writes what was owed: outputs held back by CheckUpdateInterval and the
// latest TTL deadlines, so that a restart keeps a TTL check that has not
// expired. Later calls of the other methods fail with ErrClosed.
func (c *Catalog) Close() error {
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		return nil
	}
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wmu.Unlock()
	if c.cancel != nil {
		c.cancel()
		<-c.done
		<-c.watched
		c.runWG.Wait()
		c.sub.Close()
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var b batch
	for _, cs := range c.checks {
		if cs.pending || !cs.expiry.Equal(cs.stored) {
			b.putCheck(c.cfg.Node, cs)
		}
	}
	return c.commit(&b)
}

// Register registers an instance and its checks, or updates the instance
// of the same ID in place. A check keeps its status and output unless the
// registration gives a Status; a new one starts critical. With
// replaceExistingChecks, the instance's checks the registration does not
// list are removed; without, they stay. It fails with an error wrapping
// ErrInvalid when a check ID belongs to another service.
func (c *Catalog) Register(reg Registration, replaceExistingChecks bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.services[reg.Service.ID] == nil && len(c.services) >= MaxServices {
		return invalid("%d services registered on this node, at most %d", len(c.services), MaxServices)
	}
	now := c.clock.Now()
	in := reg.Service
	var b batch
	b.putService(c.cfg.Node, &in)
	next := make(map[string]*checkState, len(reg.Checks))
	for _, d := range reg.Checks {
		old := c.checks[d.ID]
		if old != nil && old.ServiceID != in.ID {
			return invalid("check ID %q belongs to service %q", d.ID, old.ServiceID)
		}
		if d.Active != nil && !c.mayRun(d.Active) {
			return invalid("check %q: script checks are disabled on this agent: enable_local_script_checks is off", d.ID)
		}
		cs := &checkState{Check: Check{ID: d.ID, Name: d.Name, ServiceID: in.ID, Type: d.Type(),
			Status: StatusCritical, Notes: d.Notes}, ttl: d.TTL, active: d.Active,
			deregAfter: d.DeregisterCriticalServiceAfter, written: now, serviceNm: in.Name}
		if old != nil {
			cs.Status, cs.Output, cs.criticalSince = old.Status, old.Output, old.criticalSince
		}
		if d.Status != "" {
			cs.Status = d.Status
		}
		cs.markCritical(now)
		if cs.Status != StatusCritical && cs.ttl > 0 {
			cs.expiry = now.Add(d.TTL)
		}
		cs.stored = cs.expiry
		b.putCheck(c.cfg.Node, cs)
		next[d.ID] = cs
	}
	added := 0
	for id := range next {
		if c.checks[id] == nil {
			added++
		}
	}
	if len(c.checks)+added > MaxNodeChecks {
		return invalid("%d checks registered on this node, at most %d", len(c.checks), MaxNodeChecks)
	}
	var gone []string
	for id, cs := range c.checks {
		if cs.ServiceID != in.ID || next[id] != nil {
			continue
		}
		if replaceExistingChecks && !setByAgent(cs.Type) {
			b.deleteCheck(c.cfg.Node, id)
			gone = append(gone, id)
		} else if cs.serviceNm != in.Name {
			// The check stays; the record is unchanged, only the name
			// it reports under moves.
			cp := *cs
			cp.serviceNm = in.Name
			next[id] = &cp
		}
	}
	b.markSource(in.ID, reg.Source)
	if err := c.commit(&b); err != nil {
		return err
	}
	c.mu.Lock()
	if c.services == nil {
		c.services = map[string]*Instance{}
	}
	c.services[in.ID] = &in
	maps.Copy(c.checks, next)
	for _, id := range gone {
		delete(c.checks, id)
	}
	c.mu.Unlock()
	c.syncRunners()
	c.wake()
	return nil
}

// Deregister removes a service and its checks: their records become
// tombstones. It fails with ErrUnknownService for an ID this node has not
// registered.
func (c *Catalog) Deregister(serviceID string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return c.deregister(serviceID)
}

// deregister is Deregister; the caller holds wmu.
func (c *Catalog) deregister(serviceID string) error {
	if c.services[serviceID] == nil {
		return fmt.Errorf("%w %q", ErrUnknownService, serviceID)
	}
	var b batch
	b.deleteService(c.cfg.Node, serviceID)
	b.markSource(serviceID, SourceAPI)
	var gone []string
	for id, cs := range c.checks {
		if cs.ServiceID == serviceID {
			b.deleteCheck(c.cfg.Node, id)
			gone = append(gone, id)
		}
	}
	if err := c.commit(&b); err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.services, serviceID)
	for _, id := range gone {
		delete(c.checks, id)
	}
	c.mu.Unlock()
	c.syncRunners()
	c.wake()
	return nil
}

// UpdateTTL reports a TTL check's status (passing, warning or critical)
// and output, and restarts its TTL. A new status is written at once; the
// same status with a new output, or none, at most every
// CheckUpdateInterval (the latest output then). It fails with
// ErrUnknownCheck, or an error wrapping ErrInvalid for another status or
// a check the agent runs itself.
func (c *Catalog) UpdateTTL(checkID, status, output string) error {
	if !ValidStatus(status) {
		return invalid("Status %q: passing, warning or critical", status)
	}
	output = CapOutput(output)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return ErrClosed
	}
	old := c.checks[checkID]
	if old == nil {
		return fmt.Errorf("%w %q", ErrUnknownCheck, checkID)
	}
	if setByAgent(old.Type) {
		return invalid("check %q: a %s check is set by the agent, not reported", checkID, old.Type)
	}
	if old.active != nil {
		return invalid("check %q is a %s check, which the agent runs: only a TTL check's status is reported", checkID, old.Type)
	}
	return c.setStatus(old, status, output, false)
}

// setStatus is the write path of a check's status and output, reported
// by the application (UpdateTTL) or by a run: a new status is written at
// once, the same status with a new output, or a TTL refreshed, at most
// every CheckUpdateInterval; the TTL loop writes what is held back when
// that interval has passed; with force, at once. The caller holds wmu.
func (c *Catalog) setStatus(old *checkState, status, output string, force bool) error {
	now := c.clock.Now()
	cs := *old
	cs.Status, cs.Output = status, output
	if cs.ttl > 0 {
		cs.expiry = now.Add(cs.ttl)
	}
	cs.markCritical(now)
	changed := cs.Status != old.Status
	cs.pending = old.pending || cs.Output != old.Output
	if changed || force || now.Sub(old.written) >= c.cfg.CheckUpdateInterval {
		var b batch
		cs.written, cs.stored, cs.pending = now, cs.expiry, false
		b.putCheck(c.cfg.Node, &cs)
		if err := c.commit(&b); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.checks[cs.ID] = &cs
	c.mu.Unlock()
	// The TTL loop's deadlines moved: a TTL's, a held-back output's, a
	// critical check's reaping.
	if cs.ttl > 0 || changed || cs.pending != old.pending {
		c.wake()
	}
	return nil
}

// Services returns this node's instances, by ID.
func (c *Catalog) Services() []Instance {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Instance, 0, len(c.services))
	for _, id := range slices.Sorted(maps.Keys(c.services)) {
		out = append(out, *c.services[id])
	}
	return out
}

// Service returns this node's instance serviceID.
func (c *Catalog) Service(serviceID string) (Instance, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	in, ok := c.services[serviceID]
	if !ok {
		return Instance{}, false
	}
	return *in, true
}

// CheckState is a check as this node reports it: its latest status and
// output (also one not yet written), its service's name, its TTL or its
// definition, and its DeregisterCriticalServiceAfter.
type CheckState struct {
	Check
	ServiceName string
	TTL         time.Duration
	// Active is the definition of a check the agent runs; nil for a TTL
	// check. It is shared: the caller does not change it.
	Active                         *ActiveCheck
	DeregisterCriticalServiceAfter time.Duration
}

func (cs *checkState) state() CheckState {
	return CheckState{Check: cs.Check, ServiceName: cs.serviceNm, TTL: cs.ttl, Active: cs.active,
		DeregisterCriticalServiceAfter: cs.deregAfter}
}

// Checks returns this node's checks, by ID.
func (c *Catalog) Checks() []CheckState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]CheckState, 0, len(c.checks))
	for _, id := range slices.Sorted(maps.Keys(c.checks)) {
		out = append(out, c.checks[id].state())
	}
	return out
}

// CheckByID returns this node's check checkID.
func (c *Catalog) CheckByID(checkID string) (CheckState, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	cs, ok := c.checks[checkID]
	if !ok {
		return CheckState{}, false
	}
	return cs.state(), true
}
