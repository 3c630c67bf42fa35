package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Self describes the agent: its configuration, its gossip identity and
// its counters.
func (c *Client) Self(ctx context.Context) (AgentSelf, error) {
	var s AgentSelf
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/agent/self"}, &s)
	return s, err
}

// Members lists the members of the mesh as the agent sees them, itself
// included.
func (c *Client) Members(ctx context.Context) ([]AgentMember, error) {
	var ms []AgentMember
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/agent/members"}, &ms)
	return ms, err
}

// Join makes the agent join the mesh through addr (host, host:port or
// name/host:port). An address that is malformed or does not resolve is a
// 400 *StatusError; one where no agent answered, a 502.
func (c *Client) Join(ctx context.Context, addr string) error {
	return c.do(ctx, request{method: http.MethodPut, path: "/v1/agent/join/" + url.PathEscape(addr)}, nil)
}

// Leave makes the agent leave the mesh gracefully and shut down.
func (c *Client) Leave(ctx context.Context) error {
	return c.do(ctx, request{method: http.MethodPut, path: "/v1/agent/leave"}, nil)
}

// ForceLeave marks a failed node as left on every member. A node that is
// alive cannot be forced out: that is a 400 *StatusError.
func (c *Client) ForceLeave(ctx context.Context, node string) error {
	return c.do(ctx, request{method: http.MethodPut, path: "/v1/agent/force-leave/" + url.PathEscape(node)}, nil)
}

// ForceLeavePrune forces a failed, left or forgotten node out as
// ForceLeave does, and frees its name: another certificate may take it.
func (c *Client) ForceLeavePrune(ctx context.Context, node string) error {
	return c.do(ctx, request{method: http.MethodPut, path: "/v1/agent/force-leave/" + url.PathEscape(node),
		query: url.Values{"prune": {"1"}}}, nil)
}

// Revoke revokes a certificate fleet-wide: target is its fingerprint, or
// the name of a member, whose announced certificate is revoked. Every
// node then refuses it. An unknown name is a 404 *StatusError.
func (c *Client) Revoke(ctx context.Context, target string) (Revocation, error) {
	var rv Revocation
	err := c.do(ctx, request{method: http.MethodPut, path: "/v1/edgeplane/revoke/" + url.PathEscape(target)}, &rv)
	return rv, err
}

// Revoked lists the revoked certificates.
func (c *Client) Revoked(ctx context.Context) ([]Revocation, error) {
	var list []Revocation
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/edgeplane/revoked"}, &list)
	return list, err
}

// KeyringList lists the gossip keys installed on every live member.
func (c *Client) KeyringList(ctx context.Context) (KeyringResponse, error) {
	return c.keyring(ctx, http.MethodGet, "")
}

// KeyringInstall installs key on every live member.
func (c *Client) KeyringInstall(ctx context.Context, key string) (KeyringResponse, error) {
	return c.keyring(ctx, http.MethodPost, key)
}

// KeyringUse makes the installed key the one every live member encrypts
// with.
func (c *Client) KeyringUse(ctx context.Context, key string) (KeyringResponse, error) {
	return c.keyring(ctx, http.MethodPut, key)
}

// KeyringRemove removes key from every live member; the key in use cannot
// be removed.
func (c *Client) KeyringRemove(ctx context.Context, key string) (KeyringResponse, error) {
	return c.keyring(ctx, http.MethodDelete, key)
}

// keyring runs one keyring operation. An operation that failed on some
// nodes is a 500 whose body still lists each node's answer: it returns
// that answer and the *StatusError both.
func (c *Client) keyring(ctx context.Context, method, key string) (KeyringResponse, error) {
	r := request{method: method, path: "/v1/operator/keyring"}
	if method != http.MethodGet {
		r.body = jsonBody(KeyringRequest{Key: key})
	}
	var out []KeyringResponse
	err := c.do(ctx, r, &out)
	var se *StatusError
	if errors.As(err, &se) && se.Code == http.StatusInternalServerError {
		if decodeString(se.Message, &out) == nil && len(out) == 1 {
			return out[0], err
		}
		return KeyringResponse{}, err
	}
	if err != nil {
		return KeyringResponse{}, err
	}
	if len(out) != 1 {
		return KeyringResponse{}, fmt.Errorf("api: malformed keyring answer: %d responses, want 1", len(out))
	}
	return out[0], nil
}

// JoinToken asks the agent for a join token with which a new device
// enrols in the mesh: the gossip key in use and seeds, those given or,
// with none, the agent's gossip address and a few alive peers'. It needs
// an agent write token when the agent checks tokens. A mesh without a
// gossip key has none to give: a 409 *StatusError saying how to enrol a
// device instead; a malformed seed is a 400.
func (c *Client) JoinToken(ctx context.Context, seeds ...string) (JoinToken, error) {
	var t JoinToken
	r := request{method: http.MethodGet, path: "/v1/agent/join-token"}
	if len(seeds) > 0 {
		r.query = url.Values{"seed": seeds}
	}
	err := c.do(ctx, r, &t)
	return t, err
}

// Reload makes the agent re-read its configuration files. A configuration
// the agent rejects is a 500 *StatusError whose message gives the reasons.
func (c *Client) Reload(ctx context.Context) (ReloadReport, error) {
	var rep ReloadReport
	err := c.do(ctx, request{method: http.MethodPut, path: "/v1/agent/reload"}, &rep)
	return rep, err
}

// Replication returns the agent's replication state: its counters, the
// bootstrap in progress, its peers and its quarantine.
func (c *Client) Replication(ctx context.Context) (Replication, error) {
	var r Replication
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/edgeplane/replication"}, &r)
	return r, err
}

// Ping makes the agent call node's agent over RPC and measure the round
// trip. An unknown node is a 404 *StatusError; one that did not answer, a
// 502.
func (c *Client) Ping(ctx context.Context, node string) (PingResult, error) {
	var p PingResult
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/edgeplane/rpc/ping/" + url.PathEscape(node)}, &p)
	return p, err
}

// SnapshotSave returns a stream of the agent's whole store, in the store's
// snapshot format. The caller closes it; a stream cut short lacks its end
// frame, which store.VerifySnapshot reports.
func (c *Client) SnapshotSave(ctx context.Context) (io.ReadCloser, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/v1/edgeplane/snapshot"})
	if err != nil {
		return nil, err
	}
	if err := statusError(resp); err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// StoreCompact rewrites the agent's data file without its free pages,
// while the agent runs; its writes wait for it.
func (c *Client) StoreCompact(ctx context.Context) (CompactResult, error) {
	var res CompactResult
	err := c.do(ctx, request{method: http.MethodPut, path: "/v1/edgeplane/store/compact"}, &res)
	return res, err
}

// SnapshotRestore merges the snapshot read from r into the agent's store
// by last-writer-wins; what changed spreads to the mesh like any write.
func (c *Client) SnapshotRestore(ctx context.Context, r io.Reader) (RestoreResult, error) {
	var res RestoreResult
	err := c.do(ctx, request{method: http.MethodPut, path: "/v1/edgeplane/snapshot", body: r}, &res)
	return res, err
}
