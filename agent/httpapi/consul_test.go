package httpapi

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/edgeplane/edgeplane/store"
)

// testServer serves the API over a fresh store on 127.0.0.1.
func testServer(t *testing.T) (*httptest.Server, *store.Store) {
	t.Helper()
	return testServerWith(t, nil)
}

// testServerWith serves the API over a fresh store on 127.0.0.1, with the
// roles set sets.
func testServerWith(t *testing.T, set func(c *Config)) (*httptest.Server, *store.Store) {
	t.Helper()
	srv, st, _ := testAPI(t, set)
	return srv, st
}

// testAPI is testServerWith, also returning the API it serves.
func testAPI(t *testing.T, set func(c *Config)) (*httptest.Server, *store.Store, *API) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	self := func() Self {
		return Self{NodeName: "node-a", NodeID: st.NodeID(), Datacenter: "dc1", Site: "shop-7",
			Version: "test", Addr: "127.0.0.1", GossipPort: 7946, RPCAddr: "127.0.0.1:7947"}
	}
	cfg := Config{Store: st, Self: self, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if set != nil {
		set(&cfg)
	}
	api := New(cfg)
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		api.Close()
		srv.Close()
		st.Close()
	})
	return srv, st, api
}

func consulClient(t *testing.T, srv *httptest.Server) *consul.Client {
	t.Helper()
	c, err := consul.NewClient(&consul.Config{Address: strings.TrimPrefix(srv.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConsulClientKV(t *testing.T) {
	srv, _ := testServer(t)
	kv := consulClient(t, srv).KV()

	if _, err := kv.Put(&consul.KVPair{Key: "app/timeout", Value: []byte("3s"), Flags: 42}, nil); err != nil {
		t.Fatalf("Put: %v", err)
	}
	p, meta, err := kv.Get("app/timeout", nil)
	if err != nil || p == nil || string(p.Value) != "3s" || p.Flags != 42 || meta.LastIndex != p.ModifyIndex || !meta.KnownLeader {
		t.Fatalf("Get = %+v, %+v, %v", p, meta, err)
	}
	if p, _, err := kv.Get("app/missing", nil); err != nil || p != nil {
		t.Fatalf("Get missing = %+v, %v", p, err)
	}

	for _, k := range []string{"app/db/host", "app/db/port", "app/name"} {
		if _, err := kv.Put(&consul.KVPair{Key: k, Value: []byte(k)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	pairs, _, err := kv.List("app/", nil)
	if err != nil || len(pairs) != 4 || pairs[0].Key != "app/db/host" {
		t.Fatalf("List = %v, %v", pairs, err)
	}
	keys, _, err := kv.Keys("app/", "/", nil)
	if want := []string{"app/db/", "app/name", "app/timeout"}; err != nil || !slices.Equal(keys, want) {
		t.Fatalf("Keys = %q, %v; want %q", keys, err, want)
	}

	// CAS succeeds with the current index, fails with 0 on an existing key.
	p, _, _ = kv.Get("app/name", nil)
	ok, _, err := kv.CAS(&consul.KVPair{Key: "app/name", Value: []byte("v2"), ModifyIndex: p.ModifyIndex}, nil)
	if err != nil || !ok {
		t.Fatalf("CAS with current index = %v, %v", ok, err)
	}
	ok, _, err = kv.CAS(&consul.KVPair{Key: "app/name", Value: []byte("v3"), ModifyIndex: 0}, nil)
	if err != nil || ok {
		t.Fatalf("CAS with index 0 on an existing key = %v, %v", ok, err)
	}
	ok, _, err = kv.CAS(&consul.KVPair{Key: "app/new", Value: []byte("v"), ModifyIndex: 0}, nil)
	if err != nil || !ok {
		t.Fatalf("CAS create-only on a new key = %v, %v", ok, err)
	}

	// DeleteCAS: a stale index fails, the current one deletes.
	p, _, _ = kv.Get("app/new", nil)
	if ok, _, err := kv.DeleteCAS(&consul.KVPair{Key: "app/new", ModifyIndex: p.ModifyIndex - 1}, nil); err != nil || ok {
		t.Fatalf("DeleteCAS stale = %v, %v", ok, err)
	}
	if ok, _, err := kv.DeleteCAS(&consul.KVPair{Key: "app/new", ModifyIndex: p.ModifyIndex}, nil); err != nil || !ok {
		t.Fatalf("DeleteCAS = %v, %v", ok, err)
	}

	if _, err := kv.DeleteTree("app/db/", nil); err != nil {
		t.Fatal(err)
	}
	keys, _, _ = kv.Keys("app/", "", nil)
	if want := []string{"app/name", "app/timeout"}; !slices.Equal(keys, want) {
		t.Fatalf("after DeleteTree keys = %q, want %q", keys, want)
	}
	if _, err := kv.Delete("app/timeout", nil); err != nil {
		t.Fatal(err)
	}
	if p, _, _ := kv.Get("app/timeout", nil); p != nil {
		t.Fatalf("deleted key still readable: %+v", p)
	}
}

func TestConsulClientBlockingQueries(t *testing.T) {
	srv, _ := testServer(t)
	kv := consulClient(t, srv).KV()
	if _, err := kv.Put(&consul.KVPair{Key: "cfg/a", Value: []byte("1")}, nil); err != nil {
		t.Fatal(err)
	}
	_, meta, err := kv.Get("cfg/a", nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("wakes on change", func(t *testing.T) {
		got := make(chan *consul.KVPair, 1)
		go func() {
			p, _, err := kv.Get("cfg/a", &consul.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: time.Minute})
			if err != nil {
				t.Error(err)
			}
			got <- p
		}()
		// An unrelated write does not end the query early with old data.
		if _, err := kv.Put(&consul.KVPair{Key: "other", Value: []byte("x")}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(&consul.KVPair{Key: "cfg/a", Value: []byte("2")}, nil); err != nil {
			t.Fatal(err)
		}
		if p := <-got; p == nil || string(p.Value) != "2" {
			t.Fatalf("blocking Get woke with %+v", p)
		}
	})

	t.Run("missing key wakes when created", func(t *testing.T) {
		p, meta, err := kv.Get("cfg/later", nil)
		if err != nil || p != nil || meta.LastIndex == 0 {
			t.Fatalf("Get missing = %+v, %+v, %v", p, meta, err)
		}
		got := make(chan *consul.KVPair, 1)
		go func() {
			p, _, err := kv.Get("cfg/later", &consul.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: time.Minute})
			if err != nil {
				t.Error(err)
			}
			got <- p
		}()
		if _, err := kv.Put(&consul.KVPair{Key: "cfg/later", Value: []byte("here")}, nil); err != nil {
			t.Fatal(err)
		}
		if p := <-got; p == nil || string(p.Value) != "here" {
			t.Fatalf("blocking Get on a missing key woke with %+v", p)
		}
	})

	t.Run("times out with index unchanged", func(t *testing.T) {
		_, meta, _ := kv.List("cfg/", nil)
		pairs, meta2, err := kv.List("cfg/", &consul.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 200 * time.Millisecond})
		if err != nil || meta2.LastIndex != meta.LastIndex || len(pairs) != 2 {
			t.Fatalf("timed-out List = %d pairs, index %d -> %d, %v", len(pairs), meta.LastIndex, meta2.LastIndex, err)
		}
	})
}

func TestConsulClientAgentSelf(t *testing.T) {
	srv, st := testServer(t)
	c := consulClient(t, srv)
	name, err := c.Agent().NodeName()
	if err != nil || name != "node-a" {
		t.Fatalf("NodeName = %q, %v", name, err)
	}
	self, err := c.Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	if self["Config"]["NodeID"] != st.NodeID() || self["Config"]["Datacenter"] != "dc1" {
		t.Fatalf("Self Config = %v", self["Config"])
	}
	tags, _ := self["Member"]["Tags"].(map[string]any)
	if tags["site"] != "shop-7" {
		t.Fatalf("Self Member tags = %v", tags)
	}
	leader, err := c.Status().Leader()
	if err != nil || leader != "127.0.0.1:7947" {
		t.Fatalf("Leader = %q, %v", leader, err)
	}
	peers, err := c.Status().Peers()
	if err != nil || len(peers) != 1 {
		t.Fatalf("Peers = %q, %v", peers, err)
	}
}

func TestOversizedPutIsRefused(t *testing.T) {
	srv, _ := testServer(t)
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(make([]byte, 600<<10))
		if chunked { // no Content-Length: the limit applies while reading
			body = io.MultiReader(body)
		}
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v1/kv/big", body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked=%v: status %d, want 413", chunked, resp.StatusCode)
		}
	}
	// The agent keeps serving, and the big value was not written.
	c := consulClient(t, srv)
	if p, _, err := c.KV().Get("big", nil); err != nil || p != nil {
		t.Fatalf("after 413: Get = %+v, %v", p, err)
	}
	if _, err := c.KV().Put(&consul.KVPair{Key: "small", Value: make([]byte, MaxValueSize)}, nil); err != nil {
		t.Fatalf("a value of exactly the limit: %v", err)
	}
}
