package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/command"
)

// Pacing of a watch's reads.
const (
	// retryBase and retryMax bound the wait after a failed read: retryBase
	// times the square of the failures in a row, at most retryMax
	// (Consul's 5 s and 180 s, shorter for an edge device that wants its
	// handlers to catch up soon after an error clears).
	retryBase   = time.Second
	retryMax    = time.Minute
	maxFailures = 60 // past it the retry stays at retryMax; bounds failures²
	// unchangedPause separates two reads when one ended without a new
	// index, so that an API that answers at once (it is shutting down)
	// is not asked in a tight loop.
	unchangedPause = time.Second
)

// ErrClosed: the Manager was closed.
var ErrClosed = errors.New("watch: closed")

// Config is what a Manager needs.
type Config struct {
	// Source answers the watches' reads; the agent's is its HTTP API's
	// handler (HandlerSource).
	Source Source
	// Log receives a line per handler run and per failed read.
	Log *slog.Logger
	// Clock paces wait.min, wait.max and the retries after failed reads;
	// nil is the system clock.
	Clock catalog.Clock
	// Ready, when not nil, is waited for before each watch first reads:
	// a gate such as "the node has synced once". Nil: watches read at
	// Start, from whatever the store holds, as Consul's do.
	Ready func(ctx context.Context) error
	// Run runs a handler; nil is command.Run.
	Run func(ctx context.Context, c command.Command) command.Result
}

// Validate reports a Config that cannot work.
func (c *Config) Validate() error {
	if c.Source == nil {
		return errors.New("watch: Config.Source is nil")
	}
	return nil
}

// Manager runs a set of watches: each reads its view through the Source,
// blocking for changes, and hands every new result to its handler, one
// run at a time. See the package documentation.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	ctx      context.Context // set by Start; ends at Close
	cancel   context.CancelFunc
	closed   bool
	specs    []Spec              // the configured watches
	watchers map[string]*watcher // running, by identity
}

// New returns a Manager of specs, each validated; nothing runs until
// Start.
func New(cfg Config, specs []Spec) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := validateAll(specs); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = catalog.SystemClock{}
	}
	if cfg.Run == nil {
		cfg.Run = command.Run
	}
	return &Manager{cfg: cfg, log: cfg.Log, specs: slices.Clone(specs), watchers: map[string]*watcher{}}, nil
}

func validateAll(specs []Spec) error {
	var errs []error
	for i := range specs {
		if err := specs[i].Validate(); err != nil {
			errs = append(errs, fmt.Errorf("watches[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// Start starts every watch; each reads at once (after Config.Ready) and
// runs its handler with the first result. ctx bounds the start only.
func (m *Manager) Start(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.ctx != nil {
		return nil
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.applyLocked()
	return nil
}

// Set replaces the watches, as a reload does: a watch whose definition
// is unchanged keeps running (its handler is not run again), a removed
// one stops (a run in progress is killed), and a new one starts and runs
// its handler with its first result.
func (m *Manager) Set(specs []Spec) error {
	if err := validateAll(specs); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.specs = slices.Clone(specs)
	if m.ctx != nil {
		m.applyLocked()
	}
	return nil
}

// applyLocked starts and stops watchers to match m.specs.
func (m *Manager) applyLocked() {
	want := identities(m.specs)
	for id, w := range m.watchers {
		if _, keep := want[id]; !keep {
			w.stop()
			delete(m.watchers, id)
			m.log.Info("watch removed", "watch", w.spec.String())
		}
	}
	for id, i := range want {
		if _, ok := m.watchers[id]; ok {
			continue
		}
		w := m.startWatcher(m.specs[i])
		m.watchers[id] = w
	}
}

// identities maps each spec's identity to its index: its definition, and
// for the second of two identical ones, its rank among them.
func identities(specs []Spec) map[string]int {
	out := make(map[string]int, len(specs))
	seen := map[string]int{}
	for i := range specs {
		def := fmt.Sprintf("%#v", specs[i])
		n := seen[def]
		seen[def]++
		out[def+"#"+strconv.Itoa(n)] = i
	}
	return out
}

// Running lists the running watches (Spec.String), sorted.
func (m *Manager) Running() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.watchers))
	for _, w := range m.watchers {
		out = append(out, w.spec.String())
	}
	slices.Sort(out)
	return out
}

// Status returns the status of each running watch, sorted by name.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	ws := make([]*watcher, 0, len(m.watchers))
	for _, w := range m.watchers {
		ws = append(ws, w)
	}
	m.mu.Unlock()
	out := make([]Status, 0, len(ws))
	for _, w := range ws {
		w.mu.Lock()
		out = append(out, w.status)
		w.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Watch, b.Watch) })
	return out
}

// Close stops every watch, killing handler runs in progress, and waits
// for them.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	ws := m.watchers
	m.watchers = map[string]*watcher{}
	if m.cancel != nil {
		m.cancel()
	}
	m.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
	return nil
}

// watcher runs one watch: poll reads and keeps the newest result in
// latest, handle hands results to the handler one run at a time.
type watcher struct {
	m      *Manager
	spec   Spec
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	latest *result // the newest result the handler has not been given
	status Status
	wake   chan struct{}
}

// Status is what a watch has done since it started.
type Status struct {
	// Watch names the watch (Spec.String).
	Watch string
	// Runs counts the handler's runs, Failures those that failed (a
	// non-zero exit, a timeout, a program that would not start).
	Runs, Failures int
	// Unchanged counts the results not handed over because their JSON
	// equalled the last one handed over.
	Unchanged int
	// Index is the index of the result last handed over.
	Index uint64
	// LastError is the error of the last failed read or run, "" once a
	// read or run succeeds after it.
	LastError string
}

// result is one read's answer: its index and the handler's input.
type result struct {
	index uint64
	body  []byte
}

func (m *Manager) startWatcher(spec Spec) *watcher {
	ctx, cancel := context.WithCancel(m.ctx)
	w := &watcher{m: m, spec: spec, log: m.log.With("watch", spec.String()), cancel: cancel, wake: make(chan struct{}, 1),
		status: Status{Watch: spec.String()}}
	w.wg.Add(2)
	go func() {
		defer w.wg.Done()
		w.poll(ctx)
	}()
	go func() {
		defer w.wg.Done()
		w.handle(ctx)
	}()
	return w
}

// stop ends the watcher's goroutines and waits for them.
func (w *watcher) stop() {
	w.cancel()
	w.wg.Wait()
}

// poll reads the watch's view, blocking on its index, and offers each
// answer whose index moved, until ctx ends.
func (w *watcher) poll(ctx context.Context) {
	if ready := w.m.cfg.Ready; ready != nil {
		if err := ready(ctx); err != nil {
			return
		}
	}
	req := w.spec.request()
	var index uint64
	failures := 0
	for ctx.Err() == nil {
		req.Index = index
		resp, err := w.m.cfg.Source.Get(ctx, req)
		if ctx.Err() != nil {
			return
		}
		var body []byte
		if err == nil {
			body, err = w.spec.payload(resp)
		}
		if err != nil {
			failures = min(failures+1, maxFailures)
			index = 0
			retry := min(retryBase*time.Duration(failures*failures), retryMax)
			w.log.Error("watch read failed", "err", err, "retry", retry)
			w.update(func(s *Status) { s.LastError = err.Error() })
			if !w.sleep(ctx, retry) {
				return
			}
			continue
		}
		if failures > 0 {
			w.update(func(s *Status) { s.LastError = "" })
		}
		failures = 0
		if resp.Index == index && index != 0 {
			// The wait ended with nothing new.
			if !w.sleep(ctx, unchangedPause) {
				return
			}
			continue
		}
		index = resp.Index
		w.offer(result{index: resp.Index, body: body})
	}
}

// sleep waits d on the clock; false when ctx ended first.
func (w *watcher) sleep(ctx context.Context, d time.Duration) bool {
	ch, stop := w.m.cfg.Clock.At(w.m.cfg.Clock.Now().Add(d))
	defer stop()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// offer makes r the newest result and wakes handle.
func (w *watcher) offer(r result) {
	w.mu.Lock()
	w.latest = &r
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// update changes the watch's status under its lock.
func (w *watcher) update(f func(*Status)) {
	w.mu.Lock()
	f(&w.status)
	w.mu.Unlock()
}

// take returns the newest result, nil when handle has taken it.
func (w *watcher) take() *result {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.latest
	w.latest = nil
	return r
}

// handle runs the handler with the newest result each time one comes,
// one run at a time: results offered during a run wait, and only the
// newest of them is handed over after it. The first result is handed
// over at once; later ones after the wait pacing. A result equal to the
// one last handed over (same JSON) runs nothing.
func (w *watcher) handle(ctx context.Context) {
	var last []byte
	delivered := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		if delivered && w.spec.WaitMin > 0 && !w.quiesce(ctx) {
			return
		}
		r := w.take()
		if r == nil {
			continue
		}
		if delivered && bytes.Equal(r.body, last) {
			w.update(func(s *Status) { s.Unchanged++ })
			continue
		}
		last, delivered = r.body, true
		w.update(func(s *Status) { s.Runs++; s.Index = r.index })
		w.run(ctx, r)
	}
}

// quiesce waits until no result has come for WaitMin, or WaitMax (four
// times WaitMin when unset, as consul-template's wait) has passed since
// it began; false when ctx ended first.
func (w *watcher) quiesce(ctx context.Context) bool {
	clock := w.m.cfg.Clock
	limitAfter := w.spec.WaitMax
	if limitAfter == 0 {
		limitAfter = 4 * w.spec.WaitMin
	}
	limit := clock.Now().Add(limitAfter)
	deadline := func() time.Time {
		d := clock.Now().Add(w.spec.WaitMin)
		if d.After(limit) {
			return limit
		}
		return d
	}
	at := deadline()
	for {
		ch, stop := clock.At(at)
		select {
		case <-ctx.Done():
			stop()
			return false
		case <-ch:
			return true
		case <-w.wake:
			stop()
			at = deadline()
		}
	}
}

// run runs the handler with r on stdin and logs how it went.
func (w *watcher) run(ctx context.Context, r *result) {
	idx := strconv.FormatUint(r.index, 10)
	cmd := command.Command{Args: w.spec.Args, Shell: w.spec.Shell, Stdin: r.body, Timeout: w.spec.Timeout,
		Env: []string{"CONSUL_INDEX=" + idx, "EDGEPLANE_INDEX=" + idx}}
	res := w.m.cfg.Run(ctx, cmd)
	if res.Err != nil {
		if ctx.Err() != nil {
			w.log.Info("watch handler stopped", "handler", cmd.String(), "index", r.index)
			return
		}
		w.log.Error("watch handler failed", "handler", cmd.String(), "index", r.index, "err", res.Err,
			"took", res.Took, "output", res.OutputString())
		w.update(func(s *Status) { s.Failures++; s.LastError = res.Err.Error() })
		return
	}
	w.update(func(s *Status) { s.LastError = "" })
	w.log.Info("watch handler ran", "handler", cmd.String(), "index", r.index, "took", res.Took)
	w.log.Debug("watch handler output", "handler", cmd.String(), "output", res.OutputString())
}
