package agent

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/store"
)

// catalogRecord reads a's record of the catalog table at key: its
// value, or found false for none or a tombstone.
func catalogRecord(a *Agent, key string) (value []byte, found bool) {
	_ = a.store.View(func(tx *store.Tx) error {
		e, ok, err := tx.Get(catalog.Table, key)
		if err == nil && ok && !e.Deleted {
			value, found = e.Value, true
		}
		return nil
	})
	return value, found
}

// A service registered on one agent appears, with its check's status, as
// records of the catalog table on the other; deregistering it leaves
// tombstones there. A hostile local client of the first gets refusals
// and spreads nothing; a record the other writes under the first's name
// is removed by the first.
func TestCatalogSpreads(t *testing.T) {
	agents := startMeshOfAgents(t, 2, nil)
	a, b := agents[0], agents[1]
	client, err := api.NewClient(api.Config{Address: a.HTTPAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	err = client.ServiceRegister(ctx, api.AgentServiceRegistration{Name: "web", Port: 8080, Tags: []string{"v1"},
		Check: &api.AgentServiceCheck{TTL: "1m"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.CheckPass(ctx, "service:web", "ready"); err != nil {
		t.Fatal(err)
	}
	node := a.cfg.NodeName
	testutil.Eventually(t, 30*time.Second, func() error {
		v, ok := catalogRecord(b, catalog.ServiceKey(node, "web"))
		if !ok {
			return errors.New("the instance has not reached the other agent")
		}
		in, err := catalog.DecodeInstance(v)
		if err != nil || in.Name != "web" || in.Port != 8080 {
			return fmt.Errorf("instance %+v, %v", in, err)
		}
		v, ok = catalogRecord(b, catalog.CheckKey(node, "service:web"))
		if !ok {
			return errors.New("the check has not reached the other agent")
		}
		if c, err := catalog.DecodeCheck(v); err != nil || c.Status != catalog.StatusPassing || c.Output != "ready" {
			return fmt.Errorf("check %+v, %v", c, err)
		}
		return nil
	})

	t.Run("hostile local client", func(t *testing.T) {
		for _, body := range []string{
			"{not json",
			`{"Name":"web","Meta":{"k":"` + strings.Repeat("x", catalog.MaxRegistrationSize) + `"}}`,
			`{"ID":"../` + b.cfg.NodeName + `/db","Name":"db"}`,
			`{"ID":"` + b.cfg.NodeName + `/db","Name":"db"}`,
			`{"Name":"db","Check":{"TTL":"1m","CheckID":"../../svc/` + b.cfg.NodeName + `/db"}}`,
			`{"Name":"web-proxy","Kind":"connect-proxy","Proxy":{"DestinationServiceName":"web"}}`,
		} {
			err := client.ServiceRegisterJSON(ctx, strings.NewReader(body))
			var se *api.StatusError
			if !errors.As(err, &se) || se.Code != http.StatusBadRequest && se.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("%.60s: %v, want 400 or 413", body, err)
			}
		}
		settle(t, a, agents, "settle/catalog-attack")
		for _, ag := range agents {
			var keys []string
			_ = ag.store.View(func(tx *store.Tx) error {
				return tx.Scan(catalog.Table, "", func(e *store.Entry) error {
					if _, _, id, _ := catalog.ParseKey(e.Key); !strings.HasPrefix(id, catalog.AgentServiceID) {
						keys = append(keys, e.Key) // not an agent's own service
					}
					return nil
				})
			})
			want := []string{catalog.CheckKey(node, "service:web"), catalog.ServiceKey(node, "web")}
			if fmt.Sprint(keys) != fmt.Sprint(want) {
				t.Errorf("%s holds %v, want %v", ag.cfg.NodeName, keys, want)
			}
		}
	})

	// Another member writing records under this node's name (a stale
	// copy, a node that held the name) is overruled by the owner.
	t.Run("records forged elsewhere", func(t *testing.T) {
		evil, _ := catalog.EncodeInstance(&catalog.Instance{ID: "evil", Name: "evil", Weights: catalog.DefaultWeights})
		err := b.store.Update(func(tx *store.Tx) error {
			_, err := tx.Put(catalog.Table, catalog.ServiceKey(node, "evil"), evil, 0)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			for _, ag := range agents {
				if _, ok := catalogRecord(ag, catalog.ServiceKey(node, "evil")); ok {
					return fmt.Errorf("%s still holds the forged instance", ag.cfg.NodeName)
				}
			}
			return nil
		})
	})

	if err := client.ServiceDeregister(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, key := range []string{catalog.ServiceKey(node, "web"), catalog.CheckKey(node, "service:web")} {
			if _, ok := catalogRecord(b, key); ok {
				return fmt.Errorf("%s is still live on the other agent", key)
			}
		}
		return nil
	})
}
