package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/store"
)

// The agent checks KV writes against their schema, and its
// edgeplane:config check turns warning, naming the key and the rule, while
// a replicated value that breaks its schema is not served; a valid value
// makes it pass again.
func TestAgentTypedKeys(t *testing.T) {
	a, _ := startWith(t, "typed-a", "", nil, buildOptions{})
	c := consulClient(t, a)
	kv := c.KV()
	ours, err := api.NewClient(api.Config{Address: a.HTTPAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	configCheck := func(status, output string) func() error {
		return func() error {
			checks, err := c.Agent().Checks()
			if err != nil {
				return err
			}
			ch := checks[configCheckID]
			if ch == nil || ch.ServiceID != catalog.AgentServiceID || ch.Status != status || !strings.Contains(ch.Output, output) {
				return fmt.Errorf("edgeplane:config = %+v, want %s with %q", ch, status, output)
			}
			return nil
		}
	}
	testutil.Eventually(t, 10*time.Second, configCheck(consul.HealthPassing, ""))

	if _, err := kv.Put(&consul.KVPair{Key: "_schema/app/", Value: []byte(`{"type":"int","max":10}`)}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = kv.Put(&consul.KVPair{Key: "global/app/workers", Value: []byte("11")}, nil)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "global/app/workers: 11 above max 10") {
		t.Fatalf("a PUT that breaks the schema: %v", err)
	}
	if _, err := kv.Put(&consul.KVPair{Key: "global/app/workers", Value: []byte("4")}, nil); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, ok, _ := a.store.Local("lastgood").Get("global/app/workers"); !ok {
			return fmt.Errorf("no last good value yet")
		}
		return nil
	})

	remote := func(v string) {
		rec := store.Record{Key: "global/app/workers", Value: []byte(v), Version: a.store.Clock().Now(), Origin: "another-node"}
		if _, err := a.store.Apply([]store.Record{rec}); err != nil {
			t.Fatal(err)
		}
	}
	remote("40")
	testutil.Eventually(t, 10*time.Second, configCheck(consul.HealthWarning, "global/app/workers: 40 above max 10"))
	p, err := ours.KV().Resolve(t.Context(), "app/workers")
	if err != nil || p == nil || string(p.Value) != "4" || !p.LastGood {
		t.Fatalf("resolve: %+v, %v", p, err)
	}

	remote("7")
	testutil.Eventually(t, 10*time.Second, configCheck(consul.HealthPassing, ""))
	p, err = ours.KV().Resolve(t.Context(), "app/workers")
	if err != nil || p == nil || string(p.Value) != "7" || p.LastGood {
		t.Fatalf("resolve: %+v, %v", p, err)
	}
}
