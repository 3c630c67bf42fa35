package agent

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

// waitFileHolds waits, with a deadline, for path to hold want.
func waitFileHolds(t *testing.T, path, want string) {
	t.Helper()
	testutil.Eventually(t, time.Minute, func() error {
		b, err := os.ReadFile(path)
		if err != nil || string(b) != want {
			return fmt.Errorf("%s holds %q (%v), want %q", path, b, err, want)
		}
		return nil
	})
}

// In a mesh of three, a key written on A renders on C, whose blocks are
// checks of its own edgeplane service: passing when applied, critical
// after a failed check, which A's discovery endpoints see. C's status,
// dry render and failure counter are served by its API.
func TestAgentRendersFromMesh(t *testing.T) {
	dir := t.TempDir()
	app, bad := filepath.Join(dir, "app.conf"), filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(app, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	wait := config.RenderWait{Min: config.Duration{Duration: 10 * time.Millisecond}, Max: config.Duration{Duration: 100 * time.Millisecond}}
	agents := startMeshOfAgents(t, 3, func(i int, c *config.Config) {
		if i != 2 {
			return
		}
		c.Dev = false // waits for its first sync
		c.Render = []config.RenderDef{
			{Name: "app", Template: `v={{key "app/v"}} {{range service "edgeplane|any"}}{{.Node}},{{end}}`, Destination: app, Wait: wait},
			{Name: "bad", Template: `{{key "app/v"}}`, Destination: bad, Check: []string{"false", "{{.Candidate}}"}, Wait: wait},
		}
	})
	a, c := agents[0], agents[2]
	if _, err := a.store.Put("app/v", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	nodes := "bench-0,bench-1,bench-2,"
	waitFile := func(want string) { t.Helper(); waitFileHolds(t, app, want) }
	waitFile("v=1 " + nodes)
	if _, err := a.store.Put("app/v", []byte("2"), 0); err != nil {
		t.Fatal(err)
	}
	waitFile("v=2 " + nodes)

	check := func(ag *Agent, id, status string) func() error {
		return func() error {
			checks, _, err := consulClient(t, ag).Health().State(status, nil)
			if err != nil {
				return err
			}
			for _, ch := range checks {
				if ch.Node == c.cfg.NodeName && ch.CheckID == id && ch.ServiceID == catalog.AgentServiceID {
					return nil
				}
			}
			return fmt.Errorf("no %s check %s of %s in %d", status, id, c.cfg.NodeName, len(checks))
		}
	}
	testutil.Eventually(t, time.Minute, check(c, "edgeplane:render:app", consul.HealthPassing))
	testutil.Eventually(t, time.Minute, check(a, "edgeplane:render:bad", consul.HealthCritical))
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatalf("a file its check refused was written: %v", err)
	}

	ours, err := api.NewClient(api.Config{Address: c.HTTPAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := ours.RenderStatus(t.Context())
	if err != nil || len(st) != 2 || st[0].Name != "app" || st[0].Health != "passing" || st[0].ReplicaSynced.IsZero() || st[1].LastErrorStage != "check" {
		t.Fatalf("status %+v, %v", st, err)
	}
	dry, err := ours.RenderOnce(t.Context(), true)
	if err != nil || len(dry) != 2 || string(dry[0].Content) != "v=2 "+nodes {
		t.Fatalf("dry render %+v, %v", dry, err)
	}
	resp, err := http.Get("http://" + c.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`edgeplane_render_failures_total{block="bad",stage="check"} `, `edgeplane_render_failures_total{block="app",stage="check"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A node that never synced leaves an existing destination untouched,
// however long its seeds stay unreachable; restarted once it has synced,
// it renders from its store with no peer to reach (offline boot); without
// the block, its check goes.
func TestAgentRendersOnlyAfterFirstSync(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	dest := filepath.Join(dir, "app.conf")
	if err := os.WriteFile(dest, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	offline := func(c *config.Config) {
		c.Dev = false
		c.DataDir = data
		c.RetryJoin = []string{"127.0.0.1:1"} // nobody listens there
		c.RetryInterval = config.Duration{Duration: time.Hour}
		c.Render = []config.RenderDef{{Name: "app", Template: `v={{keyOrDefault "app/v" "default"}}`, Destination: dest}}
	}
	a, stop := startWith(t, "offline", "", offline, buildOptions{})
	ours, err := api.NewClient(api.Config{Address: a.HTTPAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, time.Minute, func() error {
		st, err := ours.RenderStatus(t.Context())
		if err != nil || len(st) != 1 || len(st[0].WaitingFor) != 1 || st[0].WaitingFor[0] != "first sync" || st[0].Health != "warning" {
			return fmt.Errorf("status %+v, %v", st, err)
		}
		return nil
	})
	if _, err := a.store.Put("app/v", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "old" {
		t.Fatalf("an unsynced node wrote %q", b)
	}
	// What a completed sync leaves behind: the store's sync mark.
	if err := a.store.SetSyncMark(a.store.Clock().Now()); err != nil {
		t.Fatal(err)
	}
	stop()

	b, stop := startWith(t, "offline", "", offline, buildOptions{})
	testutil.Eventually(t, time.Minute, func() error {
		if b, err := os.ReadFile(dest); err != nil || string(b) != "v=1" {
			return fmt.Errorf("%s holds %q (%v)", dest, b, err)
		}
		return nil
	})
	testutil.Eventually(t, time.Minute, func() error {
		if checks, err := consulClient(t, b).Agent().Checks(); err != nil || checks["edgeplane:render:app"] == nil {
			return fmt.Errorf("checks %v, %v", checks, err)
		}
		return nil
	})
	stop()

	// Restarted without the block, the node drops its check.
	c, _ := startWith(t, "offline", "", func(cfg *config.Config) { offline(cfg); cfg.Render = nil }, buildOptions{})
	testutil.Eventually(t, time.Minute, func() error {
		checks, err := consulClient(t, c).Agent().Checks()
		if err != nil || checks["edgeplane:render:app"] != nil || checks["edgeplane:disk"] == nil {
			return fmt.Errorf("checks %v, %v", checks, err)
		}
		return nil
	})
}

// A reload applies render blocks while the agent runs: a new block
// renders and becomes a check of the agent's service, a changed one
// renders its new template, a removed one stops and its check goes.
func TestAgentReloadsRenderBlocks(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.conf"), filepath.Join(dir, "second.conf")
	wait := config.RenderWait{Min: config.Duration{Duration: 10 * time.Millisecond}, Max: config.Duration{Duration: 100 * time.Millisecond}}
	ta := newTestAgentWith(t, func(c *config.Config) {})
	change := ta.runReloadable(t)
	if _, err := ta.store.Put("app/v", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	checks := func() string {
		t.Helper()
		_, body := ta.get(t, "/v1/agent/checks")
		return string(body)
	}
	reload := func(render ...config.RenderDef) {
		t.Helper()
		change(func(c *config.Config) { c.Render = render })
		res, err := ta.Reload()
		if err != nil || !slices.Contains(res.Applied, "render") || slices.Contains(res.RestartRequired, "render") {
			t.Fatalf("Reload = %+v, %v; want render applied", res, err)
		}
	}

	reload(config.RenderDef{Name: "first", Template: `a={{key "app/v"}}`, Destination: first, Wait: wait})
	waitFileHolds(t, first, "a=1")
	testutil.Eventually(t, time.Minute, func() error {
		if !strings.Contains(checks(), `"edgeplane:render:first"`) {
			return fmt.Errorf("no check of the new block: %s", checks())
		}
		return nil
	})

	reload(config.RenderDef{Name: "first", Template: `b={{key "app/v"}}`, Destination: first, Wait: wait})
	waitFileHolds(t, first, "b=1")

	reload(config.RenderDef{Name: "second", Template: `c={{key "app/v"}}`, Destination: second, Wait: wait})
	waitFileHolds(t, second, "c=1")
	if c := checks(); strings.Contains(c, `"edgeplane:render:first"`) {
		t.Fatalf("the removed block's check stayed: %s", c)
	}
	testutil.Eventually(t, time.Minute, func() error {
		if c := checks(); !strings.Contains(c, `"edgeplane:render:second"`) {
			return fmt.Errorf("no check of the new block: %s", c)
		}
		return nil
	})
	if _, err := ta.store.Put("app/v", []byte("2"), 0); err != nil {
		t.Fatal(err)
	}
	waitFileHolds(t, second, "c=2")
	if b, _ := os.ReadFile(first); string(b) != "b=1" {
		t.Fatalf("a removed block rendered %q", b)
	}
}
