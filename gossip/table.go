package gossip

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// table is edgeplane's member table. memberlist forgets a dead node after
// GossipToTheDeadTime; the table remembers failed members until
// ReconnectTimeout so the reconnect loop can still reach them after a long
// partition, and left members until LeftTimeout.
type table struct {
	self string

	mu      sync.Mutex
	members map[string]*Member
	dirty   bool // changed since the peers file was last written
}

// set records m and reports whether its status, address or metadata
// changed.
func (t *table) set(m Member) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.members == nil {
		t.members = map[string]*Member{}
	}
	old, ok := t.members[m.Name]
	if ok && old.Status == m.Status && old.Addr.Equal(m.Addr) && old.Port == m.Port && maps.Equal(old.Tags, m.Tags) {
		return false
	}
	if ok && old.Status == m.Status {
		m.Since = old.Since
	}
	t.members[m.Name] = &m
	t.dirty = true
	return true
}

func (t *table) get(name string) (Member, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.members[name]
	if !ok {
		return Member{}, false
	}
	return *m, true
}

// intendLeave records that a member announced it is leaving: an alive
// member becomes leaving, a failed one left. boot, when set, names the run
// of the node that leaves: an intent of another run than the member's
// (an earlier one, whose leave still circulates) changes nothing. It
// returns the member and whether it changed.
func (t *table) intendLeave(name, boot string) (Member, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.members[name]
	if !ok {
		return Member{}, false
	}
	if cur := m.Tags[MetaBoot]; boot != "" && cur != "" && cur != boot {
		return Member{}, false
	}
	switch m.Status {
	case StatusAlive, StatusSuspect:
		m.Status = StatusLeaving
	case StatusFailed:
		m.Status = StatusLeft
	default:
		return Member{}, false
	}
	m.Since = time.Now()
	t.dirty = true
	return *m, true
}

// list returns the members sorted by name.
func (t *table) list() []Member {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Member, 0, len(t.members))
	for _, name := range slices.Sorted(maps.Keys(t.members)) {
		out = append(out, *t.members[name])
	}
	return out
}

func (t *table) withStatus(st Status) []Member {
	var out []Member
	for _, m := range t.list() {
		if m.Status == st && m.Name != t.self {
			out = append(out, m)
		}
	}
	return out
}

// reap removes failed members older than failedTTL and left ones older
// than leftTTL, and returns them.
func (t *table) reap(now time.Time, failedTTL, leftTTL time.Duration) []Member {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Member
	for name, m := range t.members {
		if (m.Status == StatusFailed && now.Sub(m.Since) > failedTTL) ||
			(m.Status == StatusLeft && now.Sub(m.Since) > leftTTL) {
			out = append(out, *m)
			delete(t.members, name)
			t.dirty = true
		}
	}
	return out
}

// takeDirty reports whether the table changed since the last call.
func (t *table) takeDirty() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.dirty
	t.dirty = false
	return d
}
