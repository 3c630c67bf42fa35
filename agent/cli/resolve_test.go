package cli

import (
	"context"
	"testing"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
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
