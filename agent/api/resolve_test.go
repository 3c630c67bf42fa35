package api_test

import (
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
)

func TestKVResolve(t *testing.T) {
	a := apitest.Start(t)
	ctx := testContext(t)
	kv := a.Client.KV()
	site := "site/" + apitest.Site
	for _, k := range []string{"global/app/a b", site + "/app/a b", "global/app/c"} {
		if err := kv.Put(ctx, api.KVPair{Key: k, Value: []byte(k), Flags: 9}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := kv.Resolve(ctx, "app/a b")
	if err != nil || p == nil || p.Key != "app/a b" || p.Layer != site || p.LayerKey != site+"/app/a b" ||
		string(p.Value) != site+"/app/a b" || p.Flags != 9 || p.ModifyIndex == 0 {
		t.Fatalf("Resolve = %+v, %v", p, err)
	}
	if p, err := kv.Resolve(ctx, "app/none"); p != nil || err != nil {
		t.Fatalf("Resolve of a key no layer holds = %+v, %v; want nil, nil", p, err)
	}
	ps, err := kv.ResolvePrefix(ctx, "app/")
	if err != nil || len(ps) != 2 || ps[0].Layer != site || ps[1].Layer != "global" {
		t.Fatalf("ResolvePrefix = %+v, %v", ps, err)
	}
	x, err := kv.Explain(ctx, "app/a b")
	if err != nil || x.Layer != site || len(x.Layers) != 4 || !x.Layers[1].Wins || !x.Layers[3].Present || x.Layers[0].Present {
		t.Fatalf("Explain = %+v, %v", x, err)
	}

	// A blocking resolve answers when the node layer gains the key.
	_, idx, err := kv.ResolveBlocking(ctx, "app/c", 0, 0)
	if err != nil || idx == 0 {
		t.Fatalf("ResolveBlocking = %d, %v", idx, err)
	}
	type answer struct {
		p   *api.ResolvedPair
		idx uint64
		err error
	}
	done := make(chan answer, 1)
	go func() {
		p, idx, err := kv.ResolveBlocking(ctx, "app/c", idx, time.Minute)
		done <- answer{p, idx, err}
	}()
	if err := kv.Put(ctx, api.KVPair{Key: "node/" + apitest.NodeName + "/app/c", Value: []byte("n")}); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.err != nil || got.p == nil || got.p.Layer != "node/"+apitest.NodeName || got.idx <= idx {
		t.Fatalf("ResolveBlocking after the node write = %+v, %d, %v", got.p, got.idx, got.err)
	}
}
