package cli

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/schema"
	"github.com/edgeplane/edgeplane/store"
)

func TestKVResolve(t *testing.T) {
	a := apitest.Start(t)
	node, site, env := "node/"+apitest.NodeName, "site/"+apitest.Site, "env/"+apitest.Environment
	for k, v := range map[string]string{
		"global/app/timeout": "30s", env + "/app/timeout": "20s", site + "/app/timeout": "10s",
		"global/app/retries": "3", node + "/app/retries": "5", "global/app/motd": "two\nlines",
	} {
		if err := a.Client.KV().Put(context.Background(), api.KVPair{Key: k, Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	run(t, a.Addr, "", "kv", "resolve", "app/timeout").expect(t, 0, "10s\n", "")
	run(t, a.Addr, "", "kv", "resolve", "/app/retries").expect(t, 0, "5\n", "")
	run(t, a.Addr, "", "kv", "resolve", "-detailed", "app/retries").expect(t, 0, "Layer            "+node+"\nLayerKey         "+node+"/app/retries\n", "")
	run(t, a.Addr, "", "kv", "resolve", "app/none").expect(t, 1, "", "No layer holds: app/none")

	r := run(t, a.Addr, "", "kv", "resolve", "-explain", "app/timeout")
	want := "   LAYER        KEY                      VALUE\n" +
		"   node/node-a  node/node-a/app/timeout  -\n" +
		"*  site/site-1  site/site-1/app/timeout  10s\n" +
		"   env/prod     env/prod/app/timeout     20s\n" +
		"   global       global/app/timeout       30s\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("kv resolve -explain = %d\n%s\nwant\n%s", r.code, r.stdout, want)
	}
	run(t, a.Addr, "", "kv", "resolve", "-explain", "app/motd").expect(t, 0, `global/app/motd       "two\nlines"`, "")
	run(t, a.Addr, "", "kv", "resolve", "-explain", "app/none").expect(t, 0, "No layer holds: app/none\n", "")

	r = run(t, a.Addr, "", "kv", "resolve", "-recurse", "app/")
	if want := "app/motd:two\nlines\napp/retries:5\napp/timeout:10s\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("kv resolve -recurse = %d %q, want %q", r.code, r.stdout, want)
	}
	run(t, a.Addr, "", "kv", "resolve").expect(t, 1, "", "exactly one KEY")
	run(t, a.Addr, "", "kv", "resolve", "-explain", "-recurse", "app/").expect(t, 1, "", "do not go together")
}

// Typed keys: kv put refuses a value that breaks its schema, and kv
// resolve says when it serves a last good value.
func TestKVResolveTyped(t *testing.T) {
	a := apitest.Start(t)
	run(t, a.Addr, "", "kv", "put", "_schema/app/", `{"type":"int","max":10}`).expect(t, 0, "", "")
	run(t, a.Addr, "", "kv", "put", "global/app/workers", "11").expect(t, 1, "", "global/app/workers: 11 above max 10")
	run(t, a.Addr, "", "kv", "put", "global/app/workers", "4").expect(t, 0, "", "")
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, ok, _ := a.Store.Local(schema.Bucket).Get("global/app/workers"); !ok {
			return errors.New("no last good value kept")
		}
		return nil
	})
	rec := store.Record{Key: "global/app/workers", Value: []byte("40"), Version: a.Store.Clock().Now(), Origin: "another-node"}
	if _, err := a.Store.Apply([]store.Record{rec}); err != nil {
		t.Fatal(err)
	}
	run(t, a.Addr, "", "kv", "resolve", "app/workers").expect(t, 0, "4\n", "global/app/workers: last good value: the stored value breaks its schema (40 above max 10)")
	run(t, a.Addr, "", "kv", "get", "global/app/workers").expect(t, 0, "40", "")
}
