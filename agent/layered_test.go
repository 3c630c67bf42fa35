package agent

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/config"
)

// TestLayersAgent resolves through an agent's layers, and reloads its
// environment and layers live.
func TestLayersAgent(t *testing.T) {
	ta := newTestAgentWith(t, func(c *config.Config) { c.Site = "berlin" })
	change := ta.runReloadable(t)
	c, err := api.NewClient(api.Config{Address: ta.HTTPAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	kv := c.KV()
	ctx := context.Background()
	for _, k := range []string{"global/app/x", "env/prod/app/x", "site/berlin/app/y", "team/app/x"} {
		if err := kv.Put(ctx, api.KVPair{Key: k, Value: []byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	resolve := func(key string) string {
		t.Helper()
		p, err := kv.Resolve(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if p == nil {
			return "-"
		}
		return p.Layer
	}
	if got := resolve("app/x"); got != "global" {
		t.Fatalf("app/x without an environment resolved from %s, want global", got)
	}

	change(func(c *config.Config) { c.Environment = "prod" })
	res, err := ta.Reload()
	if err != nil || !slices.Equal(res.Applied, []string{"environment"}) || len(res.RestartRequired) != 0 {
		t.Fatalf("Reload = %+v, %v; want environment applied", res, err)
	}
	if got := resolve("app/x"); got != "env/prod" {
		t.Fatalf("app/x in prod resolved from %s, want env/prod", got)
	}

	change(func(c *config.Config) { c.Layers = []string{"team", "site/{{site}}"} })
	if res, err = ta.Reload(); err != nil || !slices.Equal(res.Applied, []string{"layers"}) {
		t.Fatalf("Reload = %+v, %v; want layers applied", res, err)
	}
	if got := resolve("app/x") + " " + resolve("app/y"); got != "team site/berlin" {
		t.Fatalf("after the layers changed, app/x and app/y resolved from %s, want team site/berlin", got)
	}
}

// runReloadable runs the agent with a reload source that returns its
// configuration as changed by the function returned, and waits until it
// is ready.
func (ta *testAgent) runReloadable(t *testing.T) (change func(func(c *config.Config))) {
	t.Helper()
	var (
		mu   sync.Mutex
		next = ta.cfg
	)
	ta.run(t, Hooks{Reload: func() (config.Config, error) {
		mu.Lock()
		defer mu.Unlock()
		return next, nil
	}})
	ta.sock.WaitFor(wait, isReady)
	return func(f func(c *config.Config)) {
		mu.Lock()
		defer mu.Unlock()
		f(&next)
	}
}
