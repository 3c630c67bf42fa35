package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/sdnotify"
	"github.com/edgeplane/edgeplane/agent/sdnotify/sdnotifytest"
)

const wait = 30 * time.Second

// testAgent is an agent on a temporary data dir and a free loopback port,
// reporting to a fake notify socket.
type testAgent struct {
	*Agent
	sock  *sdnotifytest.Socket
	logs  *testutil.SyncBuffer
	level *slog.LevelVar
	stop  func() // cancels Run and waits for it
}

func newTestAgent(t *testing.T) *testAgent {
	t.Helper()
	return newTestAgentWith(t, nil)
}

// newTestAgentWith is newTestAgent with its configuration adjusted by
// adjust, when not nil.
func newTestAgentWith(t *testing.T, adjust func(c *config.Config)) *testAgent {
	t.Helper()
	cfg := config.DevDefault()
	cfg.NodeName = "node-1"
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.GossipPort, cfg.RPCPort = 0, 0 // free ports: tests run side by side
	if adjust != nil {
		adjust(&cfg)
	}
	ta := &testAgent{sock: sdnotifytest.Listen(t), logs: &testutil.SyncBuffer{}, level: new(slog.LevelVar)}
	a, err := New(cfg, slog.New(slog.NewTextHandler(ta.logs, &slog.HandlerOptions{Level: ta.level})))
	if err != nil {
		t.Fatal(err)
	}
	ta.Agent = a
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", ta.logs)
		}
	})
	return ta
}

// run starts the agent with hooks h, their Notifier set to the fake socket.
func (ta *testAgent) run(t *testing.T, h Hooks) {
	t.Helper()
	h.Notifier = sdnotify.New(ta.sock.Path)
	h.LogLevel = ta.level
	ta.SetHooks(h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ta.Run(ctx) }()
	var once sync.Once
	ta.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(ta.stop)
}

func (ta *testAgent) url(path string) string { return "http://" + ta.HTTPAddr().String() + path }

func isReady(m string) bool    { return sdnotifytest.Has(m, "READY=1") }
func isPing(m string) bool     { return m == "WATCHDOG=1\n" }
func isStopping(m string) bool { return sdnotifytest.Has(m, "STOPPING=1") }

// healthSwitch wraps the agent's real health check. The first failFirst
// checks fail. While wedged, checks hang as a store read that never
// returns would, until their deadline; a check that was running when the
// store wedged hangs too.
type healthSwitch struct {
	a         *Agent
	failFirst int

	mu      sync.Mutex
	calls   int
	results []error // outcomes of the real check, in order
	wedged  bool
	wedges  int // checks that hung
}

var errNotYet = errors.New("not ready yet")

func (h *healthSwitch) check(ctx context.Context) error {
	h.mu.Lock()
	h.calls++
	fail, wedged := h.calls <= h.failFirst, h.wedged
	h.mu.Unlock()
	if fail {
		h.record(errNotYet)
		return errNotYet
	}
	if wedged {
		return h.hang(ctx)
	}
	err := h.a.CheckHealth(ctx)
	h.mu.Lock()
	wedged = h.wedged
	h.mu.Unlock()
	if wedged {
		return h.hang(ctx)
	}
	h.record(err)
	return err
}

var errWedged = errors.New("store read: wedged")

func (h *healthSwitch) hang(ctx context.Context) error {
	h.mu.Lock()
	h.wedges++
	h.mu.Unlock()
	<-ctx.Done()
	return errWedged
}

func (h *healthSwitch) record(err error) {
	h.mu.Lock()
	h.results = append(h.results, err)
	h.mu.Unlock()
}

func (h *healthSwitch) snapshot() (results []error, wedges int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.results), h.wedges
}

func (h *healthSwitch) wedge(on bool) {
	h.mu.Lock()
	h.wedged = on
	h.mu.Unlock()
}

func TestReadyOnlyAfterTheAPIAnswers(t *testing.T) {
	ta := newTestAgent(t)
	health := &healthSwitch{a: ta.Agent, failFirst: 3}
	ta.run(t, Hooks{HealthCheck: health.check})

	// READY=1 is the first notification, and it follows three failed
	// checks and one real check whose probe of the HTTP API answered 200.
	msgs := ta.sock.WaitFor(wait, isReady)
	if len(msgs) != 1 {
		t.Fatalf("notifications before READY=1: %q", msgs[:len(msgs)-1])
	}
	results, _ := health.snapshot()
	if len(results) != 4 || results[3] != nil || !errors.Is(results[2], errNotYet) {
		t.Fatalf("checks before READY=1: %v; want three failures then a pass", results)
	}
	if status, _ := sdnotifytest.Value(msgs[0], "STATUS"); !strings.Contains(status, "serving on "+ta.HTTPAddr().String()) {
		t.Fatalf("READY status %q does not name the address", status)
	}
	resp, err := http.Get(ta.url("/v1/agent/self"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	ta.stop()
	if msgs := ta.sock.WaitFor(wait, isStopping); len(msgs) != 1 {
		t.Fatalf("notifications before STOPPING=1: %q", msgs)
	}
}

func TestWatchdogPingsOnlyWhileHealthy(t *testing.T) {
	ta := newTestAgent(t)
	health := &healthSwitch{a: ta.Agent}
	const interval = 600 * time.Millisecond // pings every 300ms
	ta.run(t, Hooks{HealthCheck: health.check, WatchdogInterval: interval})
	ta.sock.WaitFor(wait, isReady)

	start := time.Now()
	for range 3 {
		ta.sock.WaitFor(wait, isPing)
	}
	t.Logf("3 pings in %s with WatchdogSec=%s", time.Since(start), interval)

	// Wedge the store: checks hang, pings stop, the status says why.
	health.wedge(true)
	ta.sock.Mark("wedged")
	ta.sock.WaitFor(wait, func(m string) bool { return sdnotifytest.IsMark(m, "wedged") })
	ta.sock.WaitFor(wait, func(m string) bool {
		status, _ := sdnotifytest.Value(m, "STATUS")
		return strings.HasPrefix(status, "unhealthy, watchdog pings suspended")
	})
	testutil.Eventually(t, wait, func() error {
		if _, n := health.snapshot(); n < 3 {
			return fmt.Errorf("only %d wedged checks ran", n)
		}
		return nil
	})
	health.wedge(false)
	ta.sock.Mark("unwedged")

	// Everything between the unhealthy status and the mark was sent while
	// the store was wedged; none of it may be a ping.
	during := ta.sock.WaitFor(wait, func(m string) bool { return sdnotifytest.IsMark(m, "unwedged") })
	if i := slices.IndexFunc(during, isPing); i >= 0 {
		t.Fatalf("a ping was sent while the store was wedged: %q", during)
	}
	ta.sock.WaitFor(wait, func(m string) bool {
		return sdnotifytest.Has(m, "STATUS=healthy, watchdog pings resumed")
	})
	ta.sock.WaitFor(wait, isPing)
	if !strings.Contains(ta.logs.String(), "health check failed; watchdog pings suspended") {
		t.Fatal("the failing health check was not logged")
	}
}

func TestReloadAppliesLiveOptionsAndKeepsTheRunningConfigOnError(t *testing.T) {
	ta := newTestAgent(t)
	ta.level.Set(slog.LevelInfo)
	var (
		mu   sync.Mutex
		next config.Config
		bad  error
	)
	next = ta.cfg
	ta.run(t, Hooks{Reload: func() (config.Config, error) {
		mu.Lock()
		defer mu.Unlock()
		return next, bad
	}})
	ta.sock.WaitFor(wait, isReady)
	set := func(f func(c *config.Config), err error) {
		mu.Lock()
		f(&next)
		bad = err
		mu.Unlock()
	}
	// expectReloadNotifications checks RELOADING=1 with a monotonic time,
	// then READY=1.
	expectReloadNotifications := func() {
		t.Helper()
		m := ta.sock.Next(wait)
		usec, _ := sdnotifytest.Value(m, "MONOTONIC_USEC")
		if n, err := strconv.ParseInt(usec, 10, 64); !sdnotifytest.Has(m, "RELOADING=1") || err != nil || n <= 0 {
			t.Fatalf("reload began with %q, want RELOADING=1 and MONOTONIC_USEC", m)
		}
		if m := ta.sock.Next(wait); !isReady(m) {
			t.Fatalf("reload ended with %q, want READY=1", m)
		}
	}

	// A live option is applied.
	set(func(c *config.Config) {
		c.LogLevel = "debug"
		c.MemoryLimit = "256MiB"
		c.RetryJoin = []string{"127.0.0.1:1"} // joined in the background; nobody answers there
	}, nil)
	res, err := ta.Reload()
	if err != nil || !slices.Equal(res.Applied, []string{"retry_join", "log_level", "memory_limit"}) || len(res.RestartRequired) != 0 {
		t.Fatalf("Reload = %+v, %v", res, err)
	}
	if ta.level.Level() != slog.LevelDebug {
		t.Fatalf("log level after reload = %s", ta.level.Level())
	}
	expectReloadNotifications()

	// Other options wait for a restart, and are reported until then.
	set(func(c *config.Config) { c.DataDir = "/elsewhere"; c.Site = "shop-2" }, nil)
	res, err = ta.Reload()
	if err != nil || len(res.Applied) != 0 || !slices.Equal(res.RestartRequired, []string{"site", "data_dir"}) {
		t.Fatalf("Reload = %+v, %v", res, err)
	}
	expectReloadNotifications()

	// A broken configuration is rejected and the running one kept.
	set(func(c *config.Config) { c.LogLevel = "error" }, errors.New(`edgeplane.yaml:3:1: key "log_level": "loud" is not one of debug, info, warn, error`))
	if _, err := ta.Reload(); !errors.Is(err, ErrReloadRejected) || !strings.Contains(err.Error(), "loud") {
		t.Fatalf("Reload of a broken config = %v", err)
	}
	if ta.level.Level() != slog.LevelDebug {
		t.Fatalf("a rejected reload changed the log level to %s", ta.level.Level())
	}
	expectReloadNotifications()
	if !strings.Contains(ta.logs.String(), "configuration reload rejected") {
		t.Fatal("the rejected reload was not logged")
	}

	// The HTTP endpoint runs the same reload.
	set(func(c *config.Config) { c.LogLevel = "info" }, nil)
	req, _ := http.NewRequest(http.MethodPut, ta.url("/v1/agent/reload"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct{ Applied, RestartRequired []string }
	err = json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !slices.Equal(rep.Applied, []string{"log_level"}) ||
		!slices.Equal(rep.RestartRequired, []string{"site", "data_dir"}) {
		t.Fatalf("PUT /v1/agent/reload = %d %+v %v", resp.StatusCode, rep, err)
	}
	expectReloadNotifications()

	ta.stop()
	if _, err := ta.Reload(); !errors.Is(err, ErrStopping) {
		t.Fatalf("Reload after shutdown = %v, want ErrStopping", err)
	}
}

func TestReloadWithoutSource(t *testing.T) {
	ta := newTestAgent(t)
	ta.run(t, Hooks{})
	ta.sock.WaitFor(wait, isReady)
	if _, err := ta.Reload(); !errors.Is(err, ErrReloadUnavailable) {
		t.Fatalf("Reload = %v, want ErrReloadUnavailable", err)
	}
}

// TestLogLevelThroughTheAPI: PUT /v1/edgeplane/log-level sets the agent's
// own level at once; a bad level is refused; a reload of an unchanged
// configuration restores the configured level.
func TestLogLevelThroughTheAPI(t *testing.T) {
	ta := newTestAgent(t)
	ta.level.Set(slog.LevelInfo)
	cfg := ta.cfg
	ta.run(t, Hooks{Reload: func() (config.Config, error) { return cfg, nil }})
	ta.sock.WaitFor(wait, isReady)
	put := func(level string) int {
		req, _ := http.NewRequest(http.MethodPut, ta.url("/v1/edgeplane/log-level?level="+level), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put("DEBUG"); code != http.StatusOK || ta.level.Level() != slog.LevelDebug {
		t.Fatalf("PUT debug = %d, level %s", code, ta.level.Level())
	}
	if code := put("loud"); code != http.StatusBadRequest || ta.level.Level() != slog.LevelDebug {
		t.Fatalf("PUT loud = %d, level %s", code, ta.level.Level())
	}
	res, err := ta.Reload()
	if err != nil || !slices.Equal(res.Applied, []string{"log_level"}) || ta.level.Level() != slog.LevelInfo {
		t.Fatalf("reload after the API's change = %+v, %v, level %s", res, err, ta.level.Level())
	}
}
