package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/jointoken"
)

// TestAbsentRoles: an API built without a role answers its endpoints as
// an agent without that part: not found, or for reload, not available.
func TestAbsentRoles(t *testing.T) {
	srv, _ := testServer(t)
	for _, tt := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/v1/agent/members", 404, ""},
		{"GET", "/v1/catalog/nodes", 404, ""},
		{"PUT", "/v1/agent/leave", 404, ""},
		{"GET", "/v1/operator/keyring", 404, ""},
		{"GET", "/v1/edgeplane/snapshot", 404, ""},
		{"PUT", "/v1/edgeplane/snapshot", 404, ""},
		{"GET", "/v1/edgeplane/replication", 404, ""},
		{"GET", "/v1/edgeplane/rpc/ping/node-b", 404, ""},
		{"GET", "/v1/agent/join-token", 404, ""},
		{"GET", "/v1/agent/services", 404, ""},
		{"PUT", "/v1/agent/service/register", 404, ""},
		{"PUT", "/v1/agent/check/pass/c", 404, ""},
		{"PUT", "/v1/agent/reload", 500, "reload is not available"},
		{"GET", "/v1/agent/self", 200, `"NodeName":"node-a"`},
	} {
		resp, body := do(t, tt.method, srv.URL+tt.path, "")
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
	}
}

type fakeRoles struct {
	reloadErr error
	noKey     bool // JoinToken: the mesh has no gossip key
}

// testGossipKey is the key fakeRoles puts in join tokens.
const testGossipKey = "AAECAwQFBgcICQoLDA0ODw=="

func (f fakeRoles) JoinToken(seeds []string) (jointoken.Token, error) {
	if f.noKey {
		return jointoken.Token{}, fmt.Errorf("%w: set encrypt first", ErrNoJoinToken)
	}
	if len(seeds) == 0 {
		seeds = []string{"127.0.0.1:7946", "127.0.0.2:7946"}
	}
	return jointoken.Token{Key: testGossipKey, Seeds: seeds}, nil
}

func (fakeRoles) State() api.Replication {
	return api.Replication{Local: map[string]string{"digest_root": "1f"}}
}
func (fakeRoles) Ping(ctx context.Context, node string) (string, time.Duration, error) {
	if node != "node-b" {
		return "", 0, ErrUnknownNode
	}
	return "127.0.0.1:7947", time.Millisecond, nil
}
func (f fakeRoles) Reload() (ReloadReport, error) {
	return ReloadReport{Applied: []string{"log_level"}}, f.reloadErr
}

// TestRoles: each role set answers its endpoints.
func TestRoles(t *testing.T) {
	roles := fakeRoles{}
	srv, _ := testServerWith(t, func(c *Config) {
		c.Replication, c.Ping, c.Reload = roles, roles, roles
	})
	for _, tt := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/v1/edgeplane/replication", 200, `"Local":{"digest_root":"1f"}`},
		{"GET", "/v1/edgeplane/rpc/ping/node-b", 200, `"RTTNanos":1000000`},
		{"GET", "/v1/edgeplane/rpc/ping/node-c", 404, "unknown node"},
		{"PUT", "/v1/agent/reload", 200, `{"Applied":["log_level"],"RestartRequired":[],"Rejected":[]}`},
	} {
		resp, body := do(t, tt.method, srv.URL+tt.path, "")
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
	}
	rejecting := fakeRoles{reloadErr: errors.New("edgeplane.yaml:1:1: bad")}
	srv, _ = testServerWith(t, func(c *Config) { c.Reload = rejecting })
	if resp, body := do(t, "PUT", srv.URL+"/v1/agent/reload", ""); resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "bad") {
		t.Errorf("a rejected reload = %d %q", resp.StatusCode, body)
	}
}

// TestJoinTokenEndpoint: GET /v1/agent/join-token answers a token that
// decodes to the mesh's key and the seeds the agent picked or was given;
// a malformed seed is a 400 that never reaches the agent, and a mesh
// without a gossip key a 409 with the agent's advice.
func TestJoinTokenEndpoint(t *testing.T) {
	srv, _ := testServerWith(t, func(c *Config) { c.JoinTokens = fakeRoles{} })
	for _, tt := range []struct {
		query string
		seeds []string
	}{
		{"", []string{"127.0.0.1:7946", "127.0.0.2:7946"}},
		{"?seed=10.0.0.1:7946&seed=gw.example:17946", []string{"10.0.0.1:7946", "gw.example:17946"}},
		{"?seed=%5Bfd00::1%5D:7946", []string{"[fd00::1]:7946"}},
	} {
		resp, body := do(t, "GET", srv.URL+"/v1/agent/join-token"+tt.query, "")
		var got api.JoinToken
		if err := json.Unmarshal([]byte(body), &got); resp.StatusCode != 200 || err != nil {
			t.Fatalf("join-token%s = %d %q", tt.query, resp.StatusCode, body)
		}
		tok, err := jointoken.Parse(got.Token)
		if err != nil || tok.Key != testGossipKey || !slices.Equal(tok.Seeds, tt.seeds) || !slices.Equal(got.Seeds, tt.seeds) {
			t.Fatalf("join-token%s = %+v, which decodes to %v, %v; want seeds %q", tt.query, got, tok, err, tt.seeds)
		}
	}
	many := strings.Repeat("seed=a:1&", jointoken.MaxSeeds+1)
	for _, q := range []string{"?seed=10.0.0.1", "?seed=", "?seed=0.0.0.0:7946", "?seed=a:1&seed=b%20c:1", "?" + many} {
		if resp, body := do(t, "GET", srv.URL+"/v1/agent/join-token"+q, ""); resp.StatusCode != 400 || !strings.Contains(body, "seed") {
			t.Errorf("join-token%s = %d %q, want 400 naming the seed", q, resp.StatusCode, body)
		}
	}
	srv, _ = testServerWith(t, func(c *Config) { c.JoinTokens = fakeRoles{noKey: true} })
	if resp, body := do(t, "GET", srv.URL+"/v1/agent/join-token", ""); resp.StatusCode != 409 || !strings.Contains(body, "set encrypt first") {
		t.Errorf("join-token without a gossip key = %d %q, want 409 with the advice", resp.StatusCode, body)
	}
}
