package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
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
		{"PUT", "/v1/agent/reload", 500, "reload is not available"},
		{"GET", "/v1/agent/self", 200, `"NodeName":"node-a"`},
	} {
		resp, body := do(t, tt.method, srv.URL+tt.path, "")
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
	}
}

type fakeRoles struct{ reloadErr error }

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
		{"PUT", "/v1/agent/reload", 200, `{"Applied":["log_level"],"RestartRequired":[]}`},
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
