package agent

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/version"
)

// Every agent registers its own service "edgeplane" on its HTTP API's
// port, with its version and site, and its disk and clock checks,
// passing; a local client can neither take the name nor remove the
// service; while nothing changes, the checks cost no write.
func TestAgentOwnService(t *testing.T) {
	clock := testutil.NewFakeClock(time.Now())
	a, _ := startWith(t, "self-a", "", func(c *config.Config) { c.Site = "shop-1" }, buildOptions{catalogClock: clock})
	c := consulClient(t, a)
	var svc *consul.AgentService
	testutil.Eventually(t, 10*time.Second, func() error {
		var err error
		svc, _, err = c.Agent().Service(catalog.AgentServiceID, nil)
		return err
	})
	_, port, _ := net.SplitHostPort(a.HTTPAddr().String())
	if strconv.Itoa(svc.Port) != port || svc.Meta["version"] != version.Version || svc.Meta["site"] != "shop-1" {
		t.Errorf("own service %+v, want port %s, version %s, site shop-1", svc, port, version.Version)
	}
	checks, err := c.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{diskCheckID, clockCheckID, configCheckID} {
		ch := checks[id]
		if ch == nil || ch.Status != consul.HealthPassing || ch.ServiceID != catalog.AgentServiceID || ch.Type != catalog.CheckTypeAgent {
			t.Errorf("check %s = %+v, want a passing edgeplane check of the agent's service", id, ch)
		}
	}

	// A hostile local client.
	if err := c.Agent().ServiceDeregister(catalog.AgentServiceID); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("deregistering the agent's own service: %v, want 400", err)
	}
	for _, reg := range []*consul.AgentServiceRegistration{{Name: catalog.AgentServiceID}, {ID: catalog.AgentServiceID, Name: "web"}} {
		if err := c.Agent().ServiceRegister(reg); err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("registering %+v: %v, want 400", reg, err)
		}
	}
	if err := c.Agent().UpdateTTL(diskCheckID, "", consul.HealthCritical); err == nil {
		t.Error("a local client reported the agent's own disk check")
	}

	// Looking again and again while nothing changes writes nothing.
	// Each step waits until the checks were set again (the next look is
	// armed), 20 looks over 10 minutes: past check_update_interval.
	before := a.store.Index()
	for range 20 {
		clock.Advance(selfHealthEvery)
		clock.WaitTimer(t, clock.Now().Add(selfHealthEvery))
	}
	if after := a.store.Index(); after != before {
		t.Errorf("store index %d → %d: an idle agent's own checks wrote", before, after)
	}
}

func TestDiskAndClockStatus(t *testing.T) {
	for _, tt := range []struct {
		free, total uint64
		want        string
	}{
		{50, 100, catalog.StatusPassing},
		{10, 100, catalog.StatusPassing},
		{9, 100, catalog.StatusWarning},
		{2, 100, catalog.StatusWarning},
		{1, 100, catalog.StatusCritical},
		{0, 0, catalog.StatusWarning},
	} {
		if got, out := diskStatus(tt.free, tt.total); got != tt.want {
			t.Errorf("diskStatus(%d, %d) = %s %q, want %s", tt.free, tt.total, got, out, tt.want)
		}
	}
	wall := time.Now()
	if got, _ := clockHealth(wall.Add(time.Minute), wall, 2*time.Minute); got != catalog.StatusPassing {
		t.Errorf("a store clock 1m ahead of 2m allowed: %s", got)
	}
	if got, out := clockHealth(wall.Add(5*time.Minute), wall, 2*time.Minute); got != catalog.StatusWarning || !strings.Contains(out, "5m0s ahead") {
		t.Errorf("a store clock 5m ahead of 2m allowed: %s %q", got, out)
	}
}
