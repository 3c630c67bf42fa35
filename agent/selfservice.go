package agent

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/version"
)

// The agent's own service: every agent registers the service "edgeplane"
// (catalog.AgentServiceID) on its metrics listener's port (metrics_addr)
// when it has one, else on its HTTP API's, with its version and site in
// Meta, so that Prometheus' consul_sd_configs finds every agent of the
// fleet and `edgeplane catalog service edgeplane` lists them. Its
// checks are the agent's own health, which selfHealth sets:
//
//	edgeplane:disk   free space of the data dir's file system: warning
//	                 under 10 %, critical under 2 %
//	edgeplane:clock  the store's clock against the wall clock: warning
//	                 when it runs ahead by more than half of
//	                 max_clock_drift (the wall clock was set back, or
//	                 writes stamped ahead arrived)
//	edgeplane:config typed keys (package schema): warning, naming the
//	                 keys and the rules they break, while a key's stored
//	                 value breaks its schema and resolve serves its last
//	                 good value (or the next layer) instead
//
// They are checks of the service, never of the node: a node check that
// is not passing would take every service of the node out of healthy
// discovery answers. Outputs are rounded (whole percents, whole seconds)
// so that the catalog's write economy keeps an idle agent at a status
// change's write, not one every check_update_interval.

// Check IDs and names of the agent's own service.
const (
	diskCheckID     = "edgeplane:disk"
	diskCheckName   = "Data dir disk space"
	clockCheckID    = "edgeplane:clock"
	clockCheckName  = "Store clock"
	configCheckID   = "edgeplane:config"
	configCheckName = "Typed config keys"
)

// configListed bounds the keys edgeplane:config's output names.
const configListed = 10

// configHealth is edgeplane:config's status and output for the keys
// whose stored value breaks its schema, with the rule each breaks.
func configHealth(bad map[string]string) (status, output string) {
	if len(bad) == 0 {
		return catalog.StatusPassing, "every typed key holds a valid value"
	}
	keys := slices.Sorted(maps.Keys(bad))
	var b strings.Builder
	fmt.Fprintf(&b, "%d key(s) break their schema; resolve serves their last good value: ", len(keys))
	for i, k := range keys {
		if i == configListed {
			fmt.Fprintf(&b, "; and %d more", len(keys)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k + ": " + bad[k])
	}
	return catalog.StatusWarning, b.String()
}

// reportConfig returns the Keeper's report: it sets edgeplane:config.
func reportConfig(cat *catalog.Catalog, log *slog.Logger) func(map[string]string) {
	return func(bad map[string]string) {
		status, output := configHealth(bad)
		if err := cat.SetAgentCheck(configCheckID, configCheckName, status, output); err != nil {
			log.Warn("setting a check of the agent's own service", "check", configCheckID, "err", err)
		}
	}
}

// selfHealthEvery is how often selfHealth looks.
const selfHealthEvery = 30 * time.Second

// Disk space thresholds of edgeplane:disk, in percent free.
const (
	diskWarnPercent     = 10
	diskCriticalPercent = 2
)

// selfRegistration is the agent's own service on port, registered with
// the configured services (at start and on every reload).
func selfRegistration(cfg config.Config, port int) catalog.Registration {
	meta := map[string]string{"version": version.Version}
	if cfg.Site != "" {
		meta["site"] = cfg.Site
	}
	return catalog.Registration{Source: catalog.SourceConfig, Service: catalog.Instance{
		ID: catalog.AgentServiceID, Name: catalog.AgentServiceID, Port: port, Meta: meta, Weights: catalog.DefaultWeights}}
}

// selfHealth sets the checks of the agent's own service every
// selfHealthEvery, from Start until Close.
type selfHealth struct {
	cat      *catalog.Catalog
	clock    catalog.Clock
	dataDir  string
	maxAhead time.Duration // warn past it: half of max_clock_drift
	storeNow func() time.Time
	log      *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}
}

// Start sets the checks at once, then keeps them current.
func (h *selfHealth) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan struct{})
	h.look()
	go func() {
		defer close(h.done)
		for {
			fire, stop := h.clock.At(h.clock.Now().Add(selfHealthEvery))
			select {
			case <-ctx.Done():
				stop()
				return
			case <-fire:
			}
			h.look()
		}
	}()
	return nil
}

// Close stops the checks and waits.
func (h *selfHealth) Close() error {
	if h.cancel != nil {
		h.cancel()
		<-h.done
	}
	return nil
}

func (h *selfHealth) look() {
	status, output := diskHealth(h.dataDir)
	h.set(diskCheckID, diskCheckName, status, output)
	status, output = clockHealth(h.storeNow(), time.Now(), h.maxAhead)
	h.set(clockCheckID, clockCheckName, status, output)
}

func (h *selfHealth) set(id, name, status, output string) {
	if err := h.cat.SetAgentCheck(id, name, status, output); err != nil {
		h.log.Warn("setting a check of the agent's own service", "check", id, "err", err)
	}
}

// diskHealth is edgeplane:disk's status and output for the file system
// holding dir.
func diskHealth(dir string) (status, output string) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return catalog.StatusCritical, fmt.Sprintf("reading the free space of %s: %v", dir, err)
	}
	return diskStatus(uint64(st.Bavail)*uint64(st.Bsize), uint64(st.Blocks)*uint64(st.Bsize))
}

// diskStatus grades free bytes of total.
func diskStatus(free, total uint64) (status, output string) {
	if total == 0 {
		return catalog.StatusWarning, "the file system reports no size"
	}
	percent := free * 100 / total
	output = fmt.Sprintf("%d%% of the data dir's file system free", percent)
	switch {
	case percent < diskCriticalPercent:
		return catalog.StatusCritical, output + fmt.Sprintf(" (under %d%%: writes may fail)", diskCriticalPercent)
	case percent < diskWarnPercent:
		return catalog.StatusWarning, output + fmt.Sprintf(" (under %d%%)", diskWarnPercent)
	}
	return catalog.StatusPassing, output
}

// clockHealth is edgeplane:clock's status and output: the store's clock
// (the latest stamp it issued or accepted) against the wall clock.
func clockHealth(store, wall time.Time, maxAhead time.Duration) (status, output string) {
	ahead := store.Sub(wall)
	if ahead <= maxAhead {
		return catalog.StatusPassing, "the store's clock follows the wall clock"
	}
	return catalog.StatusWarning, fmt.Sprintf("the store's clock runs %v ahead of the wall clock (more than %v): "+
		"this node's clock was set back, or writes stamped ahead of it arrived", ahead.Round(time.Second), maxAhead)
}

// configuredServices returns the services the agent registers as its
// configuration's: its own, on port (agentServicePort), then those of
// the configuration files.
func configuredServices(cfg config.Config, port int) ([]catalog.Registration, error) {
	regs, err := cfg.ServiceRegistrations()
	if err != nil {
		return nil, err
	}
	return append([]catalog.Registration{selfRegistration(cfg, port)}, regs...), nil
}
