package render

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/layers"
	"github.com/edgeplane/edgeplane/store"
)

// Clock is the time a Manager waits on: wait, splay, and the poll for a
// first sync; the catalog's, so that tests step one fake clock.
type Clock = catalog.Clock

// syncPoll is how often a block waiting for the first sync, or for
// membership to settle, looks again.
const syncPoll = time.Second

// SettleTimeout bounds the wait for membership to settle after start.
const SettleTimeout = 15 * time.Second

// feedQueue is the size of the Manager's subscription to the change
// feed; past it every block renders again.
const feedQueue = 4096

// Config is what a Manager needs.
type Config struct {
	// Store is read and followed.
	Store *store.Store
	// Specs are the blocks, validated.
	Specs []Spec
	// Layers returns the config centre's resolver in effect; nil: resolve
	// fails.
	Layers func() *layers.Resolver
	// Vet serves KV values through their schemas (schema.Guard); nil:
	// values as stored.
	Vet Vetter
	// Names are what nodeName, site and nodeTags return.
	Names Names
	// Members lists the mesh's members as the catalog shows them: what
	// nodes lists, and the node fields and serfHealth of service's
	// entries. nil: every node that holds a record, alive, known by its
	// name alone.
	Members func() []Member
	// Getenv is env's source; nil: os.Getenv.
	Getenv func(string) string
	// Synced reports whether this node ever completed a sync or a
	// bootstrap; until it does, no block renders unless
	// RenderBeforeSync. nil: it has.
	Synced           func() bool
	RenderBeforeSync bool
	// SyncedAt is when this node last completed a sync (Status's
	// ReplicaSynced); nil: unknown.
	SyncedAt func() time.Time
	// MembersSettled reports whether membership has settled since start
	// (the first push-pull with a peer done). Until it has, or
	// SettleTimeout passed, a block whose render reads the catalog
	// waits, so that a boot does not render every remote instance as
	// gone. nil: settled.
	MembersSettled func() bool
	// Clock: nil is the system clock. Rand returns a number in [0, 1)
	// for splay; nil: math/rand/v2.
	Clock Clock
	Rand  func() float64
	// Run runs check and reload; nil: Run.
	Run func(ctx context.Context, args []string, timeout time.Duration) (string, error)
	// Report is told each block's status when its health or output
	// changes (the agent sets the check edgeplane:render:<name>).
	Report func(Status)
	Log    *slog.Logger
}

// Manager renders every block of its Config, each when what it read
// changes.
type Manager struct {
	cfg    Config
	blocks []*block

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	seen    atomic.Uint64 // the index of the last change dispatched
	started time.Time     // by Config.Clock: the settle wait counts from it
}

// ErrDuplicate reports two blocks of one name.
var ErrDuplicate = errors.New("render: two blocks of one name")

// New builds a Manager: it parses every template.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("render: no store")
	}
	if cfg.Clock == nil {
		cfg.Clock = catalog.SystemClock{}
	}
	if cfg.Rand == nil {
		cfg.Rand = randFloat
	}
	if cfg.Run == nil {
		cfg.Run = Run
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Synced == nil {
		cfg.Synced = func() bool { return true }
	}
	if cfg.MembersSettled == nil {
		cfg.MembersSettled = func() bool { return true }
	}
	if cfg.Report == nil {
		cfg.Report = func(Status) {}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg}
	names := map[string]bool{}
	for _, s := range cfg.Specs {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("render %q: %w", s.Destination, err)
		}
		s = s.withDefaults()
		if names[s.Name] {
			return nil, fmt.Errorf("%w: %q", ErrDuplicate, s.Name)
		}
		names[s.Name] = true
		t, err := s.Parse()
		if err != nil {
			return nil, err
		}
		b := &block{m: m, spec: s, tmpl: t, poke: make(chan struct{}, 1), failures: map[string]uint64{}}
		b.ap = &applier{spec: s, run: cfg.Run, pause: b.splay}
		b.status = Status{Name: s.Name, Destination: s.Destination, Health: HealthWarning, Output: "not rendered yet"}
		m.blocks = append(m.blocks, b)
	}
	return m, nil
}

// Start subscribes to the store's changes, then renders every block and
// follows the changes until Close.
func (m *Manager) Start(context.Context) error {
	if len(m.blocks) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.started = cancel, m.cfg.Clock.Now()
	sub := m.cfg.Store.Subscribe("render", feedQueue)
	m.wg.Add(1 + len(m.blocks))
	go func() {
		defer m.wg.Done()
		defer sub.Close()
		m.dispatch(ctx, sub)
	}()
	for _, b := range m.blocks {
		go func() {
			defer m.wg.Done()
			b.run(ctx)
		}()
	}
	return nil
}

// Close stops every block, waiting for a render in progress (its
// commands are killed), and returns once every goroutine ended.
func (m *Manager) Close() error {
	if m.cancel != nil {
		m.cancel()
		m.wg.Wait()
	}
	return nil
}

// dispatch pokes the blocks a change concerns.
func (m *Manager) dispatch(ctx context.Context, sub *store.Subscription) {
	for {
		changes, resync, err := sub.Next(ctx)
		if err != nil {
			return
		}
		for _, b := range m.blocks {
			if resync || slices.ContainsFunc(changes, func(c store.Change) bool { return b.covers(&c) }) {
				b.wake()
			}
		}
		if n := len(changes); n > 0 {
			m.seen.Store(changes[n-1].Index)
		}
	}
}

// MembersChanged renders again the blocks that read the catalog, whose
// health includes membership.
func (m *Manager) MembersChanged() {
	for _, b := range m.blocks {
		b.mu.Lock()
		reads := b.deps.readsCatalog()
		b.mu.Unlock()
		if reads {
			b.wake()
		}
	}
}

// Status returns every block's status, in configuration order.
func (m *Manager) Status() []Status {
	out := make([]Status, len(m.blocks))
	for i, b := range m.blocks {
		out[i] = b.snapshot()
	}
	return out
}

// Failure is a count of failed renders of a block at a stage.
type Failure struct {
	Block, Stage string
	Count        uint64
}

// Failures returns the failure counts of every block and stage, zeros
// included, for edgeplane_render_failures_total.
func (m *Manager) Failures() []Failure {
	var out []Failure
	for _, b := range m.blocks {
		b.mu.Lock()
		for _, st := range []string{StageRender, StageWrite, StageCheck, StageReload} {
			out = append(out, Failure{Block: b.spec.Name, Stage: st, Count: b.failures[st]})
		}
		b.mu.Unlock()
	}
	return out
}

// Rendered is a block's result of Once (api.RenderResult).
type Rendered = api.RenderResult

// Once renders every block now, as a change would: it applies the
// results; with dry, it applies nothing and returns the contents
// instead. Blocks still waiting for the first sync are skipped, unless
// dry.
func (m *Manager) Once(ctx context.Context, dry bool) []Rendered {
	out := make([]Rendered, len(m.blocks))
	for i, b := range m.blocks {
		if dry {
			content, res, err := b.render()
			out[i].RenderStatus = b.snapshot()
			if err == nil {
				out[i].Content = content
				out[i].Checksum = checksum(content)
			} else {
				out[i].LastError = err.Error()
				out[i].WaitingFor = res.missing
			}
			continue
		}
		if m.cfg.RenderBeforeSync || m.cfg.Synced() {
			b.once(ctx)
		}
		out[i].RenderStatus = b.snapshot()
	}
	return out
}
