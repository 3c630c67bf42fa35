package agent

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/gossip"
)

// serviceIDs returns the IDs of the services registered on a.
// serviceIDs returns the IDs of the services a registered, but for its
// own service.
func serviceIDs(a *Agent) []string {
	var ids []string
	for _, in := range a.sup.catalog.Services() {
		if in.ID != catalog.AgentServiceID {
			ids = append(ids, in.ID)
		}
	}
	return ids
}

// The configured services are registered at start; a reload registers
// new and changed ones and deregisters removed ones, leaving API
// registrations alone; a restart keeps them, and drops a configured
// service the configuration lost while the agent was down.
func TestConfiguredServices(t *testing.T) {
	dir := t.TempDir()
	services := []config.ServiceDef{
		{Name: "web", Port: 80, Check: config.CheckDef{TTL: config.Duration{Duration: time.Minute}}},
		{Name: "db", Port: 5432},
	}
	ta := newTestAgentWith(t, func(c *config.Config) { c.DataDir, c.Services = dir, services })
	change := ta.runReloadable(t)
	if ids := serviceIDs(ta.Agent); fmt.Sprint(ids) != "[db web]" {
		t.Fatalf("services at start: %v", ids)
	}
	if _, ok := catalogRecord(ta.Agent, catalog.CheckKey("node-1", "service:web")); !ok {
		t.Fatal("web's check is not in the catalog table")
	}
	client, err := api.NewClient(api.Config{Address: ta.HTTPAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.ServiceRegister(t.Context(), api.AgentServiceRegistration{Name: "from-api"}); err != nil {
		t.Fatal(err)
	}

	change(func(c *config.Config) { c.Services = []config.ServiceDef{{Name: "web", Port: 8080}, {Name: "cache"}} })
	res, err := ta.Reload()
	if err != nil || !slices.Contains(res.Applied, "services") {
		t.Fatalf("Reload = %+v, %v", res, err)
	}
	if ids := serviceIDs(ta.Agent); fmt.Sprint(ids) != "[cache from-api web]" {
		t.Fatalf("services after the reload: %v", ids)
	}
	if in, _ := ta.sup.catalog.Service("web"); in.Port != 8080 {
		t.Errorf("web after the reload: %+v", in)
	}
	if _, ok := catalogRecord(ta.Agent, catalog.ServiceKey("node-1", "db")); ok {
		t.Error("db's record survived its removal")
	}
	if _, ok := catalogRecord(ta.Agent, catalog.CheckKey("node-1", "service:web")); ok {
		t.Error("web's check survived its removal from the definition")
	}
	// An unchanged reload brings back a configured service deregistered
	// through the API, as Consul's.
	if err := client.ServiceDeregister(t.Context(), "cache"); err != nil {
		t.Fatal(err)
	}
	if _, err := ta.Reload(); err != nil {
		t.Fatal(err)
	}
	if ids := serviceIDs(ta.Agent); fmt.Sprint(ids) != "[cache from-api web]" {
		t.Fatalf("services after an unchanged reload: %v", ids)
	}
	ta.stop()

	// Restart with cache gone from the configuration.
	ta2 := newTestAgentWith(t, func(c *config.Config) {
		c.DataDir, c.Services = dir, []config.ServiceDef{{Name: "web", Port: 8080}}
	})
	ta2.run(t, Hooks{})
	ta2.sock.WaitFor(wait, isReady)
	if ids := serviceIDs(ta2.Agent); fmt.Sprint(ids) != "[from-api web]" {
		t.Fatalf("services after a restart: %v", ids)
	}
}

// A member reaped after reconnect_timeout has its records tombstoned by
// the others; when it comes back, its re-stamp wins and its records are
// live everywhere again. A member that is merely failed keeps its
// records.
func TestReapedNodeRecords(t *testing.T) {
	short := func(c *config.Config) {
		c.ReconnectInterval = config.Duration{Duration: 100 * time.Millisecond}
		c.ReconnectTimeout = config.Duration{Duration: 2 * time.Second}
		c.DeadNodeReclaim = config.Duration{Duration: 100 * time.Millisecond}
		c.LeaveOnTerminate = false // fail, not leave
	}
	a := startInProcess(t, "reap-a", "", short)
	dirB := t.TempDir()
	b, stopB := startStoppable(t, "reap-b", a.mesh.LocalMember().Address(), func(c *config.Config) {
		short(c)
		c.DataDir = dirB
		c.Services = []config.ServiceDef{{Name: "web", Port: 80}}
	})
	key := catalog.ServiceKey("reap-b", "web")
	testutil.Eventually(t, time.Minute, func() error {
		if _, ok := catalogRecord(a, key); !ok {
			return errors.New("b's instance has not reached a")
		}
		return nil
	})
	_ = b
	stopB()
	failedSeen := false
	testutil.Eventually(t, time.Minute, func() error {
		if m, ok := a.mesh.Member("reap-b"); ok {
			if m.Status == gossip.StatusFailed {
				// Failed but not yet reaped: the records stay.
				if _, live := catalogRecord(a, key); !live {
					return errors.New("b's records were removed before b was reaped")
				}
				failedSeen = true
			}
			return fmt.Errorf("b is %v on a", m.Status)
		}
		if _, ok := catalogRecord(a, key); ok {
			return errors.New("b was reaped but its instance is live on a")
		}
		return nil
	})
	if !failedSeen {
		t.Log("b was reaped before a failed check could be observed")
	}

	// b comes back on the same data dir: its record wins over a's
	// tombstone on both replicas.
	b2 := startInProcess(t, "reap-b", a.mesh.LocalMember().Address(), func(c *config.Config) {
		short(c)
		c.DataDir = dirB
		c.Services = []config.ServiceDef{{Name: "web", Port: 80}}
	})
	testutil.Eventually(t, time.Minute, func() error {
		for _, ag := range []*Agent{a, b2} {
			if _, ok := catalogRecord(ag, key); !ok {
				return fmt.Errorf("b's instance is not live on %s", ag.cfg.NodeName)
			}
		}
		return nil
	})
}
