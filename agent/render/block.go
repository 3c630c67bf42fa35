package render

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	template "github.com/edgeplane/edgeplane/agent/render/internal/tmpl"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/store"
)

// Health of a block, its check's status.
const (
	HealthPassing  = "passing"
	HealthWarning  = "warning"
	HealthCritical = "critical"
)

// Status is a block's state, as `edgeplane render status` and
// /v1/edgeplane/render show it (api.RenderStatus).
type Status = api.RenderStatus

// What a block waits for before the node's first sync, and before
// membership settled.
const (
	waitingForSync    = "first sync"
	waitingForMembers = "membership to settle"
)

// block is one render block: its runner, and its status.
type block struct {
	m    *Manager
	spec Spec
	tmpl *template.Template
	text string // the template's text, to tell a changed one on Set
	ap   *applier
	poke chan struct{}

	// stop ends run; done is closed once it ended. Set by
	// Manager.startLocked, under the Manager's mu.
	stop context.CancelFunc
	done chan struct{}

	applying sync.Mutex // one render and apply at a time

	mu       sync.Mutex
	deps     Deps
	status   Status
	failures map[string]uint64
	reported [2]string // health and output last reported
}

func (b *block) wake() {
	select {
	case b.poke <- struct{}{}:
	default:
	}
}

func (b *block) covers(c *store.Change) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.deps.Covers(c)
}

func (b *block) snapshot() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.status
	s.WaitingFor = append([]string(nil), s.WaitingFor...)
	s.LastGood = append([]string(nil), s.LastGood...)
	return s
}

// run renders at start (after the first sync), then whenever what the
// last render read changes, paced by wait.
func (b *block) run(ctx context.Context) {
	if !b.waitSynced(ctx) || !b.waitSettled(ctx) {
		return
	}
	b.checkWritable()
	b.once(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.poke:
		}
		if !b.quiesce(ctx) {
			return
		}
		b.once(ctx)
	}
}

// waitSynced holds the block until the node has synced once, unless
// render_before_sync.
func (b *block) waitSynced(ctx context.Context) bool {
	clock := b.m.cfg.Clock
	for !b.m.cfg.RenderBeforeSync && !b.m.cfg.Synced() {
		b.update(func(s *Status) {
			s.Health, s.Output, s.WaitingFor = HealthWarning, "waiting for first sync: the destination is left as it is", []string{waitingForSync}
		})
		if !b.pause(ctx, clock.Now().Add(syncPoll)) {
			return false
		}
	}
	return true
}

// pause waits until the block's clock reaches t, and reports false when
// ctx ended first.
func (b *block) pause(ctx context.Context, t time.Time) bool {
	fire, stop := b.m.cfg.Clock.At(t)
	select {
	case <-ctx.Done():
		stop()
		return false
	case <-fire:
		return true
	}
}

// waitSettled holds a block whose render reads the catalog until
// membership settled, or SettleTimeout after start.
func (b *block) waitSettled(ctx context.Context) bool {
	clock, cfg := b.m.cfg.Clock, &b.m.cfg
	deadline := b.m.started.Add(SettleTimeout)
	for !cfg.MembersSettled() && clock.Now().Before(deadline) {
		if _, res, _ := b.render(); !res.deps.readsCatalog() {
			return true
		}
		b.update(func(s *Status) {
			s.Health, s.Output, s.WaitingFor = HealthWarning, "waiting for membership to settle: the destination is left as it is", []string{waitingForMembers}
		})
		if !b.pause(ctx, minTime(clock.Now().Add(syncPoll), deadline)) {
			return false
		}
	}
	return true
}

// checkWritable reports at start a destination directory the agent may
// not write, naming the systemd drop-in that grants it.
func (b *block) checkWritable() {
	path, err := target(b.spec.Destination)
	if err != nil {
		return
	}
	dir := filepath.Dir(path)
	for b.spec.CreateDestDirs && dir != "/" {
		if _, err := os.Stat(dir); err == nil {
			break
		}
		dir = filepath.Dir(dir)
	}
	if err := unix.Access(dir, unix.W_OK); errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS) || errors.Is(err, unix.EPERM) {
		b.fail(b.m.cfg.Clock.Now(), &StageError{Stage: StageWrite, Err: unwritable(dir, err)}, b.m.cfg.Log)
	}
}

// quiesce waits for wait.min without a change, at most wait.max after
// the first: consul-template's wait.
func (b *block) quiesce(ctx context.Context) bool {
	lo, hi := b.spec.WaitMin, b.spec.WaitMax
	if lo <= 0 {
		return ctx.Err() == nil
	}
	if hi <= 0 {
		hi = 4 * lo
	}
	clock := b.m.cfg.Clock
	now := clock.Now()
	quiet, latest := now.Add(lo), now.Add(hi)
	for {
		fire, stop := clock.At(minTime(quiet, latest))
		select {
		case <-ctx.Done():
			stop()
			return false
		case <-b.poke:
			stop()
			quiet = clock.Now().Add(lo)
		case <-fire:
			return true
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// splay waits a random part of spec.Splay before a reload.
func (b *block) splay(ctx context.Context) error {
	if b.spec.Splay <= 0 {
		return nil
	}
	clock := b.m.cfg.Clock
	d := time.Duration(b.m.cfg.Rand() * float64(b.spec.Splay))
	fire, stop := clock.At(clock.Now().Add(d))
	defer stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-fire:
		return nil
	}
}

func randFloat() float64 { return rand.Float64() }

// renderResult is what a render read besides its bytes.
type renderResult struct {
	deps     Deps
	missing  []string
	lastGood []string
	index    uint64
}

// render executes the template in one read transaction of the store.
func (b *block) render() ([]byte, renderResult, error) {
	var (
		buf bytes.Buffer
		res renderResult
	)
	cfg := &b.m.cfg
	err := cfg.Store.View(func(tx *store.Tx) error {
		r := &reader{tx: tx, vet: cfg.Vet, names: cfg.Names, members: cfg.Members, getenv: cfg.Getenv}
		if cfg.Layers != nil {
			r.resolver = cfg.Layers()
		}
		t, err := b.tmpl.Clone()
		if err != nil {
			return err
		}
		err = t.Funcs(r.funcs()).Execute(&limitedWriter{w: &buf, n: MaxOutputBytes}, nil)
		res = renderResult{deps: r.deps, missing: r.missing, lastGood: r.lastGood}
		return err
	})
	res.index = cfg.Store.Index()
	if len(res.missing) > 0 {
		err = fmt.Errorf("%w: %s", ErrMissing, strings.Join(res.missing, ", "))
	}
	return buf.Bytes(), res, err
}

// limitedWriter fails past n bytes.
type limitedWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.w.Len()+len(p) > l.n {
		return 0, fmt.Errorf("render: output above %d bytes", l.n)
	}
	return l.w.Write(p)
}

func checksum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// once renders and applies the block, and records the outcome.
func (b *block) once(ctx context.Context) {
	b.applying.Lock()
	defer b.applying.Unlock()
	content, res, err := b.render()
	now := b.m.cfg.Clock.Now()
	b.mu.Lock()
	b.deps = res.deps // what this render read, even one that failed
	b.status.Renders++
	b.status.StoreIndex = res.index
	if b.m.cfg.SyncedAt != nil {
		b.status.ReplicaSynced = b.m.cfg.SyncedAt()
	}
	b.mu.Unlock()
	log := b.m.cfg.Log.With("block", b.spec.Name, "destination", b.spec.Destination)
	if errors.Is(err, ErrMissing) {
		b.update(func(s *Status) {
			s.Health, s.WaitingFor, s.LastGood = HealthWarning, res.missing, res.lastGood
			s.Output = "waiting for " + strings.Join(quoteAll(res.missing), ", ") + "; the destination is left as it is"
		})
		log.Info("render waits for keys", "keys", res.missing)
		return
	}
	if err != nil {
		b.fail(now, &StageError{Stage: StageRender, Err: err}, log)
		return
	}
	changed, err := b.ap.apply(ctx, content)
	if err != nil {
		b.fail(now, err, log)
		return
	}
	sum := checksum(content)
	if changed {
		log.Info("rendered", "checksum", sum, "bytes", len(content))
	}
	b.update(func(s *Status) {
		s.LastRender, s.Checksum, s.WaitingFor, s.LastGood = now, sum, nil, res.lastGood
		if changed {
			s.LastChange = now
			s.Writes++
		}
		s.Health, s.Output = HealthPassing, "rendered "+sum[:12]
		if len(res.lastGood) > 0 {
			s.Health = HealthWarning
			s.Output += "; serving the last good value of " + strings.Join(res.lastGood, "; ")
		}
	})
}

// fail records a failed render: the block's check turns critical.
func (b *block) fail(now time.Time, err error, log interface{ Warn(string, ...any) }) {
	se := &StageError{Stage: StageWrite, Err: err}
	errors.As(err, &se)
	log.Warn("render failed", "stage", se.Stage, "err", err, "rolled_back", se.RolledBack)
	b.mu.Lock()
	b.failures[se.Stage]++
	b.mu.Unlock()
	b.update(func(s *Status) {
		s.Health, s.WaitingFor = HealthCritical, nil
		s.LastError, s.LastErrorStage, s.LastErrorAt = err.Error(), se.Stage, now
		if se.RolledBack {
			s.LastRollback = now
		}
		s.Output = err.Error()
		switch {
		case se.RolledBack:
			s.Output = "rolled back: " + s.Output
		case se.Stage == StageCheck:
			s.Output = "check failed; the previous file stays: " + s.Output
		}
	})
}

// update changes the status and reports its health when it changed.
func (b *block) update(fn func(*Status)) {
	b.mu.Lock()
	fn(&b.status)
	s := b.status
	changed := b.reported != [2]string{s.Health, s.Output}
	b.reported = [2]string{s.Health, s.Output}
	b.mu.Unlock()
	if changed {
		b.m.cfg.Report(s)
	}
}

func quoteAll(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
