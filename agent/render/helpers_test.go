package render

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/store"
)

func put(t *testing.T, st *store.Store, key, value string) {
	t.Helper()
	if _, err := st.Put(key, []byte(value), 0); err != nil {
		t.Fatal(err)
	}
}

// poll waits, with a deadline, for cond.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		if cond() {
			return nil
		}
		return errors.New("still waiting: " + what)
	})
}

// commands is a fake Run: it records each call and answers by the
// program's name.
type commands struct {
	mu     sync.Mutex
	calls  [][]string
	answer map[string]func(args []string) error
}

func (c *commands) run(_ context.Context, args []string, _ time.Duration) (string, error) {
	c.mu.Lock()
	c.calls = append(c.calls, slices.Clone(args))
	fn := c.answer[args[0]]
	c.mu.Unlock()
	if fn == nil {
		return "", nil
	}
	if err := fn(args); err != nil {
		return "output of " + args[0], &CommandError{Args: args, Output: "output of " + args[0], Err: err}
	}
	return "", nil
}

func (c *commands) set(prog string, fn func(args []string) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.answer == nil {
		c.answer = map[string]func([]string) error{}
	}
	c.answer[prog] = fn
}

// count returns how many calls ran prog.
func (c *commands) count(prog string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, a := range c.calls {
		if a[0] == prog {
			n++
		}
	}
	return n
}

// fixture is a store, a fake clock, a directory and a Manager of one
// block over them.
type fixture struct {
	t     *testing.T
	st    *store.Store
	clock *testutil.FakeClock
	dir   string
	dest  string
	cmds  *commands
	m     *Manager

	mu      sync.Mutex
	reports []Status
}

func newFixture(t *testing.T) *fixture {
	dir := t.TempDir()
	return &fixture{t: t, st: testutil.OpenStore(t), clock: testutil.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		dir: dir, dest: filepath.Join(dir, "app.conf"), cmds: &commands{}}
}

// config returns the Config of spec over the fixture, for changes
// before start.
func (f *fixture) config(spec Spec) Config {
	if spec.Destination == "" {
		spec.Destination = f.dest
	}
	return Config{Store: f.st, Specs: []Spec{spec}, Clock: f.clock, Run: f.cmds.run, Rand: func() float64 { return 0.5 },
		Report: func(s Status) {
			f.mu.Lock()
			f.reports = append(f.reports, s)
			f.mu.Unlock()
		}}
}

// start builds and starts the Manager of cfg; Close runs at cleanup.
func (f *fixture) start(cfg Config) *Manager {
	f.t.Helper()
	m, err := New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { m.Close() })
	f.m = m
	return m
}

func (f *fixture) run(spec Spec) *Manager { return f.start(f.config(spec)) }

func (f *fixture) status() Status { return f.m.Status()[0] }

func (f *fixture) read() string {
	f.t.Helper()
	b, err := os.ReadFile(f.dest)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

func (f *fixture) write(content string) {
	f.t.Helper()
	if err := os.WriteFile(f.dest, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// waitContent waits for the destination to hold want, and the status to
// say so.
func (f *fixture) waitContent(want string) {
	f.t.Helper()
	testutil.Eventually(f.t, 20*time.Second, func() error {
		b, err := os.ReadFile(f.dest)
		if s := f.status(); err != nil || string(b) != want || s.Checksum != checksum([]byte(want)) {
			return fmt.Errorf("destination holds %q (%v), want %q; status %+v", b, err, want, s)
		}
		return nil
	})
}

// waitRenders waits for n renders, at least.
func (f *fixture) waitRenders(n uint64) {
	f.t.Helper()
	poll(f.t, fmt.Sprintf("%d renders", n), func() bool { return f.status().Renders >= n })
}

// caughtUp waits until the Manager has dispatched every change the store
// holds.
func (f *fixture) caughtUp() {
	f.t.Helper()
	idx := f.st.Index()
	poll(f.t, "the manager dispatches every change", func() bool { return f.m.seen.Load() >= idx })
}

// lastReport returns the last status reported.
func (f *fixture) lastReport() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reports) == 0 {
		return Status{}
	}
	return f.reports[len(f.reports)-1]
}

// register writes an instance, and its checks' records, of node into the
// catalog table, as that node's catalog would.
func register(t testing.TB, st *store.Store, node string, in catalog.Instance, checks ...catalog.Check) {
	t.Helper()
	if in.Weights == (catalog.Weights{}) {
		in.Weights = catalog.DefaultWeights
	}
	err := st.Update(func(tx *store.Tx) error {
		b, err := catalog.EncodeInstance(&in)
		if err != nil {
			return err
		}
		if _, err := tx.Put(catalog.Table, catalog.ServiceKey(node, in.ID), b, 0); err != nil {
			return err
		}
		for _, c := range checks {
			if c.Type == "" {
				c.Type = "ttl"
			}
			b, err := catalog.EncodeCheck(&c)
			if err != nil {
				return err
			}
			if _, err := tx.Put(catalog.Table, catalog.CheckKey(node, c.ID), b, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
