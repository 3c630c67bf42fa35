package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
	"github.com/edgeplane/edgeplane/agent/jointoken"
	"github.com/edgeplane/edgeplane/gossip"
)

func TestNewClientAddress(t *testing.T) {
	tests := []struct {
		addr, base string // base "": refused
	}{
		{"", "http://" + api.DefaultAddress},
		{"127.0.0.1:8500", "http://127.0.0.1:8500"},
		{"http://127.0.0.1:8500/", "http://127.0.0.1:8500"},
		{"https://agent.local:8501", "https://agent.local:8501"},
		{"[::1]:8500", "http://[::1]:8500"},
		{"ftp://127.0.0.1:21", ""},
		{"http://", ""},
		{"http://bad host:1", ""},
	}
	for _, tt := range tests {
		c, err := api.NewClient(api.Config{Address: tt.addr})
		switch {
		case tt.base == "" && err == nil:
			t.Errorf("NewClient(%q) accepted the address as %s", tt.addr, c.Address())
		case tt.base != "" && (err != nil || c.Address() != tt.base):
			t.Errorf("NewClient(%q) = %v, %v; want %s", tt.addr, c, err, tt.base)
		}
	}
}

// TestUnreachable calls an address where nothing listens: every call
// fails with ErrUnreachable, which names the address.
func TestUnreachable(t *testing.T) {
	dead := apitest.DeadAddress(t)
	c, err := api.NewClient(api.Config{Address: dead})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	calls := map[string]func() error{
		"KV.Get":       func() error { _, err := c.KV().Get(ctx, "k"); return err },
		"KV.Put":       func() error { return c.KV().Put(ctx, api.KVPair{Key: "k"}) },
		"Members":      func() error { _, err := c.Members(ctx); return err },
		"Self":         func() error { _, err := c.Self(ctx); return err },
		"SnapshotSave": func() error { _, err := c.SnapshotSave(ctx); return err },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, api.ErrUnreachable) || !strings.Contains(err.Error(), dead) {
			t.Errorf("%s with no agent = %v; want ErrUnreachable naming %s", name, err, dead)
		}
		var se *api.StatusError
		if errors.As(err, &se) {
			t.Errorf("%s with no agent is a StatusError", name)
		}
	}
	// A context that ended is said as such, not as an agent that is down.
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Members(done); errors.Is(err, api.ErrUnreachable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Members with an ended context = %v", err)
	}
}

func TestSelfAndMembers(t *testing.T) {
	a := apitest.Start(t)
	ctx := testContext(t)
	self, err := a.Client.Self(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if self.Config.NodeName != apitest.NodeName || self.Config.Datacenter != apitest.Datacenter ||
		self.Config.RPCAddr != apitest.RPCAddr || self.Member.Port != 7946 || self.Member.Tags["site"] != apitest.Site ||
		self.Stats["store"]["index"] == "" {
		t.Fatalf("Self = %+v", self)
	}
	a.Mesh.SetMembers(apitest.Member("a", "hq", gossip.StatusAlive), apitest.Member("b", "shop", gossip.StatusSuspect),
		apitest.Member("c", "shop", gossip.StatusFailed))
	ms, err := a.Client.Members(ctx)
	if err != nil || len(ms) != 3 {
		t.Fatalf("Members = %v, %v", ms, err)
	}
	// A suspect member is alive to Consul's tools, suspect in its tags.
	if b := ms[1]; b.Name != "b" || b.Status != 1 || b.Tags["status"] != "suspect" || b.Tags["dc"] != apitest.Datacenter || b.Port != 7946 {
		t.Fatalf("member b = %+v", b)
	}
	if c := ms[2]; c.Status != 4 || c.Tags["status"] != "failed" {
		t.Fatalf("member c = %+v", c)
	}
}

func TestJoinLeaveForceLeave(t *testing.T) {
	a := apitest.Start(t)
	ctx := testContext(t)
	if err := a.Client.Join(ctx, "10.0.0.1:7946"); err != nil {
		t.Fatal(err)
	}
	if err := a.Client.Join(ctx, "seed/127.0.0.2:7946"); err != nil {
		t.Fatal(err)
	}
	if got := a.Mesh.Joined(); !slices.Equal(got, []string{"10.0.0.1:7946", "seed/127.0.0.2:7946"}) {
		t.Fatalf("joined through %q", got)
	}
	for addr, code := range map[string]int{"nosuch.invalid": 400, "127.0.0.1:1": 502} {
		cause := gossip.ErrNoAnswer
		if code == 400 {
			cause = gossip.ErrBadAddress
		}
		a.Mesh.FailJoin(addr, fmt.Errorf("%w %q", cause, addr))
		var se *api.StatusError
		if err := a.Client.Join(ctx, addr); !errors.As(err, &se) || se.Code != code {
			t.Errorf("Join %s = %v; want %d", addr, err, code)
		}
	}

	a.Mesh.SetMembers(apitest.Member(apitest.NodeName, apitest.Site, gossip.StatusAlive), apitest.Member("gone", "s", gossip.StatusFailed))
	var se *api.StatusError
	if err := a.Client.ForceLeave(ctx, apitest.NodeName); !errors.As(err, &se) || se.Code != 400 || !strings.Contains(se.Message, "not failed") {
		t.Fatalf("ForceLeave of a live node = %v", err)
	}
	if err := a.Client.ForceLeave(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if got := a.Mesh.ForcedOut(); !slices.Equal(got, []string{"gone"}) {
		t.Fatalf("forced out %q", got)
	}
	if err := a.Client.Leave(ctx); err != nil || !a.Mesh.Left() {
		t.Fatalf("Leave = %v, left %v", err, a.Mesh.Left())
	}
}

func TestKeyring(t *testing.T) {
	a := apitest.Start(t)
	ctx := testContext(t)
	var se *api.StatusError
	if _, err := a.Client.KeyringList(ctx); !errors.As(err, &se) || se.Code != 400 || !strings.Contains(se.Message, "not enabled") {
		t.Fatalf("KeyringList without encryption = %v", err)
	}
	old, next := gossip.GenerateKey(), gossip.GenerateKey()
	a.Mesh.EnableEncryption(old)
	a.Mesh.SetMembers(apitest.Member("a", "s", gossip.StatusAlive), apitest.Member("b", "s", gossip.StatusAlive))
	resp, err := a.Client.KeyringInstall(ctx, next)
	if err != nil || resp.NumNodes != 2 || resp.Keys[next] != 2 || resp.PrimaryKeys[old] != 2 || len(resp.Nodes) != 2 {
		t.Fatalf("KeyringInstall = %+v, %v", resp, err)
	}
	if resp, err = a.Client.KeyringUse(ctx, next); err != nil || resp.PrimaryKeys[next] != 2 {
		t.Fatalf("KeyringUse = %+v, %v", resp, err)
	}
	if resp, err = a.Client.KeyringRemove(ctx, old); err != nil || resp.Keys[old] != 0 || resp.Datacenter != apitest.Datacenter {
		t.Fatalf("KeyringRemove = %+v, %v", resp, err)
	}
	if _, err = a.Client.KeyringRemove(ctx, next); !errors.As(err, &se) || se.Code != 400 {
		t.Fatalf("KeyringRemove of the key in use = %v; want 400", err)
	}
	// A failure on one node: every node's answer and a 500 both.
	a.Mesh.FailKeyringOn("b", "disk full")
	resp, err = a.Client.KeyringInstall(ctx, old)
	if !errors.As(err, &se) || se.Code != 500 || len(resp.Nodes) != 2 || resp.Messages["b"] != "disk full" {
		t.Fatalf("KeyringInstall failing on b = %+v, %v", resp, err)
	}
	// A list answers 200 whatever each node said.
	if resp, err = a.Client.KeyringList(ctx); err != nil || len(resp.Nodes) != 2 || resp.Nodes[1].Error != "disk full" {
		t.Fatalf("KeyringList = %+v, %v", resp, err)
	}
}

func TestPing(t *testing.T) {
	a := apitest.Start(t)
	ctx := testContext(t)
	res, err := a.Client.Ping(ctx, apitest.NodeName)
	if err != nil || res.Node != apitest.NodeName || res.Addr != apitest.RPCAddr || res.Duration() != time.Millisecond || res.RTT != "1ms" {
		t.Fatalf("Ping = %+v, %v", res, err)
	}
	var se *api.StatusError
	if _, err := a.Client.Ping(ctx, "nobody"); !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("Ping of an unknown node = %v", err)
	}
	a.SetPing(func(context.Context, string) (string, time.Duration, error) {
		return "", 0, errors.New("handshake refused")
	})
	if _, err := a.Client.Ping(ctx, apitest.NodeName); !errors.As(err, &se) || se.Code != 502 || !strings.Contains(se.Message, "handshake refused") {
		t.Fatalf("Ping of a node that refuses = %v", err)
	}
}

func TestReload(t *testing.T) {
	a := apitest.Start(t)
	ctx := testContext(t)
	var se *api.StatusError
	if _, err := a.Client.Reload(ctx); !errors.As(err, &se) || se.Code != 500 {
		t.Fatalf("Reload with none set = %v", err)
	}
	a.SetReload(func() (httpapi.ReloadReport, error) {
		return httpapi.ReloadReport{Applied: []string{"log_level"}}, nil
	})
	rep, err := a.Client.Reload(ctx)
	if err != nil || !slices.Equal(rep.Applied, []string{"log_level"}) || rep.RestartRequired == nil {
		t.Fatalf("Reload = %+v, %v", rep, err)
	}
	a.SetReload(func() (httpapi.ReloadReport, error) {
		return httpapi.ReloadReport{}, errors.New("edgeplane.yaml:1: log_level: loud")
	})
	if _, err := a.Client.Reload(ctx); !errors.As(err, &se) || se.Code != 500 || !strings.Contains(se.Message, "edgeplane.yaml:1") {
		t.Fatalf("Reload of a bad configuration = %v", err)
	}
}

func TestReplication(t *testing.T) {
	a := apitest.Start(t)
	ctx := testContext(t)
	r, err := a.Client.Replication(ctx)
	if err != nil || r.Local["index"] == "" || r.Peers == nil || r.Bootstrap.Running {
		t.Fatalf("Replication = %+v, %v", r, err)
	}
	want := api.Replication{
		Local:      map[string]string{"digest_root": "ab"},
		Bootstrap:  api.BootstrapProgress{Running: true, Peer: "b", Records: 12},
		Peers:      []api.ReplicationPeer{{Node: "b", Addr: "127.0.0.2:7947", LastSync: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), LastResult: "equal", Breaker: "closed", BytesSent: 9}},
		Quarantine: []api.QuarantinedRecord{{Key: `"k\xff"`, Value: []byte("v"), Version: "1.0", Origin: "n"}},
	}
	a.SetReplication(want)
	r, err = a.Client.Replication(ctx)
	if err != nil || fmt.Sprint(r) != fmt.Sprint(want) {
		t.Fatalf("Replication = %+v, %v; want %+v", r, err, want)
	}
}

// TestSnapshotSaveRestore saves one agent's store and restores it into
// another.
func TestSnapshotSaveRestore(t *testing.T) {
	src, dst := apitest.Start(t), apitest.Start(t)
	ctx := testContext(t)
	for _, k := range []string{"a", "b/c"} {
		if err := src.Client.KV().Put(ctx, api.KVPair{Key: k, Value: []byte(k), Flags: 3}); err != nil {
			t.Fatal(err)
		}
	}
	body, err := src.Client.SnapshotSave(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := io.ReadAll(body)
	body.Close()
	if err != nil {
		t.Fatal(err)
	}
	res, err := dst.Client.SnapshotRestore(ctx, bytes.NewReader(snap))
	if err != nil || res.Changed != 2 {
		t.Fatalf("SnapshotRestore = %+v, %v", res, err)
	}
	if p, _ := dst.Client.KV().Get(ctx, "b/c"); p == nil || string(p.Value) != "b/c" || p.Flags != 3 {
		t.Fatalf("restored b/c = %+v", p)
	}
	var se *api.StatusError
	if _, err := dst.Client.SnapshotRestore(ctx, strings.NewReader("not a snapshot")); !errors.As(err, &se) || se.Code != http.StatusBadRequest {
		t.Fatalf("SnapshotRestore of garbage = %v", err)
	}
}

// TestTokenIsSent: a client built with a token sends it as X-Consul-Token
// on every call; one without is the anonymous token.
func TestTokenIsSent(t *testing.T) {
	a := apitest.Start(t)
	res, err := acl.NewResolver(acl.Config{Tokens: []acl.Token{{
		Secret: "ops-secret-0123456789", Policy: acl.Compile(acl.Rules{Agent: acl.Write, KeyPrefix: map[string]acl.Access{"": acl.Write}}),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	a.SetACL(res)
	ctx := testContext(t)
	with, err := api.NewClient(api.Config{Address: a.Addr, Token: "ops-secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	if err := with.KV().Put(ctx, api.KVPair{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("Put with the token: %v", err)
	}
	if _, err := with.KV().List(ctx, ""); err != nil {
		t.Fatalf("List with the token: %v", err)
	}
	snap, err := with.SnapshotSave(ctx)
	if err != nil {
		t.Fatalf("SnapshotSave with the token: %v", err)
	}
	io.Copy(io.Discard, snap)
	snap.Close()
	var se *api.StatusError
	for name, call := range map[string]func() error{
		"Put":          func() error { return a.Client.KV().Put(ctx, api.KVPair{Key: "k"}) },
		"Self":         func() error { _, err := a.Client.Self(ctx); return err },
		"SnapshotSave": func() error { _, err := a.Client.SnapshotSave(ctx); return err },
	} {
		if err := call(); !errors.As(err, &se) || se.Code != http.StatusForbidden || !strings.Contains(se.Message, "Permission denied") {
			t.Errorf("%s without a token = %v, want 403 Permission denied", name, err)
		}
	}
}

func TestJoinToken(t *testing.T) {
	a := apitest.Start(t)
	ctx := testContext(t)
	var se *api.StatusError
	if _, err := a.Client.JoinToken(ctx); !errors.As(err, &se) || se.Code != http.StatusConflict || !strings.Contains(se.Message, "set encrypt first") {
		t.Fatalf("JoinToken without encryption = %v; want 409 with the advice", err)
	}
	key := gossip.GenerateKey()
	a.Mesh.EnableEncryption(key)
	for _, seeds := range [][]string{nil, {"10.0.0.1:7946", "10.0.0.2:7946"}} {
		got, err := a.Client.JoinToken(ctx, seeds...)
		if err != nil {
			t.Fatalf("JoinToken(%q): %v", seeds, err)
		}
		tok, err := jointoken.Parse(got.Token)
		want := seeds
		if want == nil {
			want = []string{"127.0.0.1:7946"}
		}
		if err != nil || tok.Key != key || !slices.Equal(tok.Seeds, want) || !slices.Equal(got.Seeds, want) {
			t.Fatalf("JoinToken(%q) = %+v, decoding to %v, %v", seeds, got, tok, err)
		}
	}
	if _, err := a.Client.JoinToken(ctx, "10.0.0.1"); !errors.As(err, &se) || se.Code != http.StatusBadRequest {
		t.Fatalf("JoinToken with a seed without port = %v; want 400", err)
	}
}
