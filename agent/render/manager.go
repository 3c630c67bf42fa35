package render

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
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
	cfg Config

	setMu  sync.Mutex // serialises Start and Set
	mu     sync.Mutex
	blocks []*block
	ctx    context.Context // the blocks' parent, once started
	cancel context.CancelFunc
	closed bool

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
	blocks, err := m.build(cfg.Specs)
	if err != nil {
		return nil, err
	}
	m.blocks = blocks
	return m, nil
}

// build validates specs and parses their templates into blocks, not
// started.
func (m *Manager) build(specs []Spec) ([]*block, error) {
	var out []*block
	names := map[string]bool{}
	for _, s := range specs {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("render %q: %w", s.Destination, err)
		}
		s = s.withDefaults()
		if names[s.Name] {
			return nil, fmt.Errorf("%w: %q", ErrDuplicate, s.Name)
		}
		names[s.Name] = true
		t, text, err := s.parse()
		if err != nil {
			return nil, err
		}
		b := &block{m: m, spec: s, tmpl: t, text: text, poke: make(chan struct{}, 1), failures: map[string]uint64{}}
		b.ap = &applier{spec: s, run: m.cfg.Run, pause: b.splay}
		b.status = Status{Name: s.Name, Destination: s.Destination, Health: HealthWarning, Output: "not rendered yet"}
		out = append(out, b)
	}
	return out, nil
}

// list returns the blocks in effect. Set replaces the slice, never
// changes it, so the caller may range over it unlocked.
func (m *Manager) list() []*block {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.blocks
}

// Start subscribes to the store's changes, then renders every block and
// follows the changes until Close. Blocks Set adds later start at once.
func (m *Manager) Start(context.Context) error {
	m.setMu.Lock()
	defer m.setMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx != nil || m.closed {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.ctx, m.cancel, m.started = ctx, cancel, m.cfg.Clock.Now()
	sub := m.cfg.Store.Subscribe("render", feedQueue)
	m.wg.Go(func() {
		defer sub.Close()
		m.dispatch(ctx, sub)
	})
	for _, b := range m.blocks {
		m.startLocked(b)
	}
	return nil
}

// startLocked runs b until it is halted or the Manager closes.
func (m *Manager) startLocked(b *block) {
	ctx, stop := context.WithCancel(m.ctx)
	b.stop, b.done = stop, make(chan struct{})
	m.wg.Go(func() {
		defer close(b.done)
		b.run(ctx)
	})
}

// Set replaces the blocks by those of specs, as a reload does: a block
// whose spec and template text are unchanged goes on; a changed one
// stops (a render in progress ends, its commands killed) and starts
// again; a new one starts, a removed one stops. It returns the names of
// the blocks removed. Invalid specs change nothing.
func (m *Manager) Set(specs []Spec) (removed []string, err error) {
	m.setMu.Lock()
	defer m.setMu.Unlock()
	next, err := m.build(specs)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	old := map[string]*block{}
	for _, b := range m.blocks {
		old[b.spec.Name] = b
	}
	var halt []*block
	for i, nb := range next {
		ob, ok := old[nb.spec.Name]
		if !ok {
			continue
		}
		delete(old, nb.spec.Name)
		if reflect.DeepEqual(ob.spec, nb.spec) && ob.text == nb.text {
			next[i] = ob
		} else {
			halt = append(halt, ob)
		}
	}
	for _, ob := range m.blocks {
		if old[ob.spec.Name] != nil {
			halt = append(halt, ob)
			removed = append(removed, ob.spec.Name)
		}
	}
	m.blocks = next
	m.mu.Unlock()
	for _, b := range halt {
		if b.stop != nil {
			b.stop()
			<-b.done
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx != nil && !m.closed {
		for _, b := range next {
			if b.done == nil {
				m.startLocked(b)
			}
		}
	}
	return removed, nil
}

// Close stops every block, waiting for a render in progress (its
// commands are killed), and returns once every goroutine ended.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	cancel := m.cancel
	m.mu.Unlock()
	if cancel != nil {
		cancel()
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
		for _, b := range m.list() {
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
	for _, b := range m.list() {
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
	blocks := m.list()
	out := make([]Status, len(blocks))
	for i, b := range blocks {
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
	for _, b := range m.list() {
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
	blocks := m.list()
	out := make([]Rendered, len(blocks))
	for i, b := range blocks {
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
