package gossip

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
)

// savePeers writes the addresses of live peers to the peers file when the
// member table changed since the last write, or always when force is set
// (the first peer of this run, and at shutdown). Writes are spaced by the
// caller's timer to spare SD cards.
func (m *Mesh) savePeers(force bool) {
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	m.savePeersLocked(force)
}

func (m *Mesh) savePeersLocked(force bool) {
	if m.cfg.PeersFile == "" || (!m.table.takeDirty() && !force) {
		return
	}
	var addrs []string
	for _, mem := range m.table.list() {
		if mem.Name != m.cfg.NodeName && (mem.Status == StatusAlive || mem.Status == StatusFailed) {
			addrs = append(addrs, mem.Address())
		}
	}
	if len(addrs) == 0 {
		return // keep the last known peers: a lone node should still find them
	}
	b, _ := json.Marshal(addrs)
	if err := writeFileAtomic(m.cfg.PeersFile, b); err != nil {
		m.log.Warn("could not save peers", "file", m.cfg.PeersFile, "err", err)
		return
	}
	m.peersSaved.Store(true)
}

// savePeersFirst writes the peers file at once the first time this run
// has a peer, so that a node stopped or killed within its first
// PeersSaveInterval can rejoin without seeds. Later writes keep to the
// timer.
func (m *Mesh) savePeersFirst() {
	if m.cfg.PeersFile == "" || m.peersSaved.Load() {
		return
	}
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	if !m.peersSaved.Load() {
		m.savePeersLocked(true)
	}
}

// peerGained asks the maintenance loop to write the peers file if this
// run has not yet: it runs under memberlist's locks and must not block.
func (m *Mesh) peerGained() {
	if m.cfg.PeersFile == "" || m.peersSaved.Load() {
		return
	}
	select {
	case m.saveFirst <- struct{}{}:
	default:
	}
}

// LoadPeers reads the peer addresses a mesh saved, for rejoining after a
// restart. A missing file gives none and no error.
func LoadPeers(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var addrs []string
	if err := json.Unmarshal(b, &addrs); err != nil {
		return nil, fmt.Errorf("peers file %s: %w", path, err)
	}
	return slices.DeleteFunc(addrs, func(s string) bool { return s == "" }), nil
}
