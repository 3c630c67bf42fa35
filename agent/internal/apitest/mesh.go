package apitest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/gossip"
)

// Mesh is an in-memory httpapi.Mesh: a member table the test sets, joins
// that succeed unless told to fail, a leave and force-leave that are
// recorded, and a keyring shared by every member. It is safe for
// concurrent use.
type Mesh struct {
	mu       sync.Mutex
	members  []gossip.Member
	joinErrs map[string]error
	joined   []string
	left     bool
	forced   []string
	pruned   []string
	revoked  []api.Revocation
	keys     []string          // installed keys; nil: encryption off
	primary  string            // the key in use
	failOn   map[string]string // node -> the error its keyring reply carries
}

// Member returns a member as the gossip layer reports one, on 127.0.0.1.
func Member(name, site string, st gossip.Status) gossip.Member {
	return gossip.Member{
		Name: name, ID: "id-" + name, Addr: net.ParseIP("127.0.0.1"), Port: 7946, Site: site, Status: st,
		Tags: map[string]string{gossip.MetaID: "id-" + name, gossip.MetaSite: site, gossip.MetaVersion: Version},
	}
}

// SetMembers replaces the member table.
func (m *Mesh) SetMembers(ms ...gossip.Member) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.members = slices.Clone(ms)
}

// Members returns the member table.
func (m *Mesh) Members() []gossip.Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.members)
}

// FailJoin makes a join through addr fail with err (wrap gossip's
// ErrBadAddress, ErrNoAnswer or ErrWrongKey to pick the API's status).
func (m *Mesh) FailJoin(addr string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.joinErrs == nil {
		m.joinErrs = map[string]error{}
	}
	m.joinErrs[addr] = err
}

// Join records the addresses and fails on the first one FailJoin named.
func (m *Mesh) Join(addrs []string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range addrs {
		if err := m.joinErrs[a]; err != nil {
			return 0, err
		}
	}
	m.joined = append(m.joined, addrs...)
	return len(addrs), nil
}

// Joined returns the addresses joined through, in order.
func (m *Mesh) Joined() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.joined)
}

// Leave records the leave; the fake agent keeps serving.
func (m *Mesh) Leave() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.left = true
	return nil
}

// Left reports whether Leave was called.
func (m *Mesh) Left() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.left
}

// ForceLeave marks a failed member as left, and refuses any other, as the
// gossip layer does; with prune it records the node in Pruned too, and
// accepts one it does not know.
func (m *Mesh) ForceLeave(node string, prune bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if prune {
		m.pruned = append(m.pruned, node)
	}
	for i, mem := range m.members {
		if mem.Name != node {
			continue
		}
		if mem.Status != gossip.StatusFailed && mem.Status != gossip.StatusLeft {
			return fmt.Errorf("gossip: force-leave: %s is %s, not failed", node, mem.Status)
		}
		m.members[i].Status = gossip.StatusLeft
		m.forced = append(m.forced, node)
		return nil
	}
	if prune {
		return nil
	}
	return fmt.Errorf("gossip: force-leave: no member named %q", node)
}

// Pruned returns the nodes force-leave -prune named, in order.
func (m *Mesh) Pruned() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.pruned)
}

// ForcedOut returns the nodes force-leave marked as left, in order.
func (m *Mesh) ForcedOut() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.forced)
}

// EnableEncryption turns the keyring on with key installed and in use.
func (m *Mesh) EnableEncryption(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys, m.primary = []string{key}, key
}

// primaryKey returns the key in use, or "" without encryption.
func (m *Mesh) primaryKey() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.primary
}

// FailKeyringOn makes node's keyring replies carry msg as their error.
func (m *Mesh) FailKeyringOn(node, msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failOn == nil {
		m.failOn = map[string]string{}
	}
	m.failOn[node] = msg
}

// Keyring runs op on the shared keyring and answers for every live
// member, as the gossip layer does.
func (m *Mesh) Keyring(ctx context.Context, op, key string) ([]gossip.KeyringReply, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		return nil, gossip.ErrNoEncryption
	}
	if op != gossip.KeyringList {
		if _, err := gossip.DecodeKey(key); err != nil {
			return nil, err
		}
	}
	var opErr string
	switch op {
	case gossip.KeyringList:
	case gossip.KeyringInstall:
		if !slices.Contains(m.keys, key) {
			m.keys = append(m.keys, key)
		}
	case gossip.KeyringUse:
		if slices.Contains(m.keys, key) {
			m.primary = key
		} else {
			opErr = "key is not installed"
		}
	case gossip.KeyringRemove:
		if key == m.primary {
			return nil, gossip.ErrRemovePrimary
		}
		m.keys = slices.DeleteFunc(m.keys, func(k string) bool { return k == key })
	default:
		return nil, errors.New("unknown keyring operation " + op)
	}
	var replies []gossip.KeyringReply
	for _, mem := range m.members {
		if mem.Status != gossip.StatusAlive {
			continue
		}
		r := gossip.KeyringReply{Node: mem.Name, Keys: slices.Clone(m.keys), Primary: m.primary, Error: opErr}
		if msg, ok := m.failOn[mem.Name]; ok {
			r.Error = msg
		}
		replies = append(replies, r)
	}
	return replies, nil
}

// Revoke records a revocation of target: a member's announced certificate
// (tag fp) or a fingerprint of 64 hex digits, as the agent accepts them.
func (m *Mesh) Revoke(target string) (api.Revocation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rv := api.Revocation{Fingerprint: target}
	if _, err := hex.DecodeString(target); err != nil || len(target) != 64 {
		i := slices.IndexFunc(m.members, func(mem gossip.Member) bool { return mem.Name == target && mem.Tags["fp"] != "" })
		if i < 0 {
			return api.Revocation{}, fmt.Errorf("%w: %q", httpapi.ErrUnknownNode, target)
		}
		rv = api.Revocation{Fingerprint: m.members[i].Tags["fp"], Node: target}
	}
	m.revoked = append(m.revoked, rv)
	return rv, nil
}

// Revoked returns the revocations recorded.
func (m *Mesh) Revoked() ([]api.Revocation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]api.Revocation{}, m.revoked...), nil
}
