package agent

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/store"
)

// A service registered with a TTL check on one agent is discovered on the
// other through /v1/health/service, passing once the application reports
// it, then critical through serfHealth once its agent is gone. Records
// forged on the reader (a node that is not a member, a value that does
// not decode) are not served.
func TestDiscoveryAcrossAgents(t *testing.T) {
	a, stopA := startStoppable(t, "disc-a", "", func(c *config.Config) { c.LeaveOnTerminate = false })
	b := startInProcess(t, "disc-b", a.mesh.LocalMember().Address(), nil)
	testutil.Eventually(t, time.Minute, func() error {
		if n := b.mesh.NumAlive(); n < 2 {
			return fmt.Errorf("disc-b sees %d members alive", n)
		}
		return nil
	})
	ctx := t.Context()
	ca, err := api.NewClient(api.Config{Address: a.HTTPAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := api.NewClient(api.Config{Address: b.HTTPAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	err = ca.ServiceRegister(ctx, api.AgentServiceRegistration{Name: "web", Port: 8080, Tags: []string{"v1"},
		Check: &api.AgentServiceCheck{TTL: "5m"}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		entries, err := cb.HealthService(ctx, "web", api.ServiceQuery{})
		if err != nil || len(entries) != 1 || entries[0].Node.Node != "disc-a" {
			return fmt.Errorf("disc-b discovers %+v, %v", entries, err)
		}
		return nil
	})
	if err := ca.CheckPass(ctx, "service:web", "ready"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		entries, err := cb.HealthService(ctx, "web", api.ServiceQuery{Passing: true, Tags: []string{"v1"}})
		if err != nil || len(entries) != 1 || len(entries[0].Checks) != 2 || entries[0].Service.Port != 8080 {
			return fmt.Errorf("disc-b passing: %+v, %v", entries, err)
		}
		return nil
	})

	t.Run("forged records", func(t *testing.T) {
		ghost, _ := catalog.EncodeInstance(&catalog.Instance{ID: "web", Name: "web", Weights: catalog.DefaultWeights})
		err := b.store.Update(func(tx *store.Tx) error {
			if _, err := tx.Put(catalog.Table, catalog.ServiceKey("ghost", "web"), ghost, 0); err != nil {
				return err
			}
			_, err := tx.Put(catalog.Table, catalog.ServiceKey("disc-a", "junk"), []byte{0xbf, 0xff, 0x00}, 0)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		entries, err := cb.HealthService(ctx, "web", api.ServiceQuery{})
		if err != nil || len(entries) != 1 || entries[0].Node.Node != "disc-a" || entries[0].Service.ID != "web" {
			t.Fatalf("with forged records, disc-b serves %+v, %v; want disc-a's web only", entries, err)
		}
		services, err := cb.CatalogServices(ctx)
		if _, web := services["web"]; err != nil || len(services) != 2 || !web {
			t.Fatalf("CatalogServices = %v, %v; want the agents' own edgeplane and web only", services, err)
		}
	})

	// A blocking read on disc-b wakes when disc-a fails: serfHealth is
	// membership, numbered by disc-b's membership index.
	type answer struct {
		index uint64
		body  string
		err   error
	}
	blocking := func(index uint64) answer {
		resp, err := http.Get(fmt.Sprintf("http://%s/v1/health/service/web?index=%d&wait=50s", b.HTTPAddr(), index))
		if err != nil {
			return answer{err: err}
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		i, _ := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
		return answer{i, string(body), err}
	}
	first := blocking(0)
	if first.err != nil || first.index == 0 {
		t.Fatalf("disc-b's web: index %d, %v", first.index, first.err)
	}
	woke := make(chan answer, 1)
	go func() {
		// Other changes of web may answer first: follow them, up to 5.
		a := first
		for range 5 {
			next := blocking(a.index)
			if next.err != nil || next.index <= a.index || strings.Contains(next.body, `"Status":"critical","Notes":"","Output":"Agent not live`) {
				woke <- next
				return
			}
			a = next
		}
		woke <- answer{err: errors.New("web changed 5 times without disc-a failing")}
	}()

	stopA()
	select {
	case got := <-woke:
		if got.err != nil || got.index <= first.index {
			t.Fatalf("blocking read after disc-a stopped: index %d (from %d), %v; want woken at a higher index", got.index, first.index, got.err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the blocking read did not answer")
	}
	testutil.Eventually(t, time.Minute, func() error {
		entries, err := cb.HealthService(ctx, "web", api.ServiceQuery{})
		if err != nil || len(entries) != 1 {
			return fmt.Errorf("disc-b discovers %+v, %v", entries, err)
		}
		for _, c := range entries[0].Checks {
			if c.CheckID == "serfHealth" && c.Status == catalog.StatusCritical {
				return nil
			}
		}
		return errors.New("disc-a's serfHealth is not critical yet")
	})
	passing, err := cb.HealthService(ctx, "web", api.ServiceQuery{Passing: true})
	if err != nil || len(passing) != 0 {
		t.Fatalf("passing instances after disc-a failed: %+v, %v; want none", passing, err)
	}
}
