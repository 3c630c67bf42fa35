package agent

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"

	"github.com/hashicorp/memberlist"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/jointoken"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// maxTokenPeers bounds the members besides this node whose addresses a
// join token made here carries.
const maxTokenPeers = 4

// meshAuthenticated reports whether the mesh of an agent configured with
// cfg authenticates its members by a gossip key: one is configured, tok
// (when not nil) brings one, or the data dir holds a keyring.
func meshAuthenticated(cfg config.Config, tok *jointoken.Token) bool {
	return cfg.Encrypt != "" || cfg.EncryptFile != "" || tok != nil ||
		cfg.DataDir != "" && hasKeyringFile(cfg.DataDir)
}

// enrol installs tok's gossip key as the keyring of dataDir when the node
// has no gossip key yet: no keyring in the data dir, no encrypt or
// encrypt_file. The node then starts exactly as one configured with that
// key. Once it has a key the token's is not installed; when it is not
// among the node's keys, that is logged, as the token then belongs to
// another mesh or predates a key rotation.
func enrol(cfg config.Config, tok *jointoken.Token, dataDir string, log *slog.Logger) error {
	if tok == nil {
		return nil
	}
	key, err := gossip.DecodeKey(tok.Key)
	if err != nil {
		return fmt.Errorf("agent: join token: %w", err)
	}
	path := filepath.Join(dataDir, keyringFileName)
	kr, err := gossip.LoadKeyring(path)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if kr != nil {
		if !slices.ContainsFunc(kr.GetKeys(), func(k []byte) bool { return bytes.Equal(k, key) }) {
			log.Warn("the join token's gossip key is not in the keyring of the data dir: the token is from another mesh, or older than a key rotation; its key is not installed, its seeds are still joined",
				"keyring", path)
		}
		return nil
	}
	configured, err := cfg.GossipKey()
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if configured != "" {
		if configured != tok.Key {
			log.Warn("the join token's gossip key differs from encrypt/encrypt_file, which is used; its seeds are still joined")
		}
		return nil
	}
	if kr, err = memberlist.NewKeyring(nil, key); err != nil {
		return fmt.Errorf("agent: join token: %w", err)
	}
	if err := gossip.SaveKeyring(path, kr); err != nil {
		return fmt.Errorf("agent: saving the join token's key: %w", err)
	}
	log.Info("enrolled with a join token: its gossip key is installed in the data dir's keyring", "keyring", path, "seeds", tok.Seeds)
	return nil
}

// withSeeds returns seeds followed by those of tok that seeds lacks.
func withSeeds(seeds []string, tok *jointoken.Token) []string {
	if tok == nil {
		return seeds
	}
	out := slices.Clone(seeds)
	for _, s := range tok.Seeds {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// joinTokens makes the join tokens of GET /v1/agent/join-token: the
// primary key of the keyring in the data dir (which follows every
// rotation) and gossip addresses of this node and of a few alive peers.
type joinTokens struct {
	mode    tlsmesh.Mode
	keyring string // the keyring file
	mesh    *membership
}

func (j joinTokens) JoinToken(seeds []string) (jointoken.Token, error) {
	kr, err := gossip.LoadKeyring(j.keyring)
	if err != nil {
		return jointoken.Token{}, err
	}
	if kr == nil {
		if j.mode == tlsmesh.FleetCA {
			return jointoken.Token{}, fmt.Errorf("%w: this mesh trusts a fleet CA and has no gossip key; enrol a device by issuing it a certificate with `edgeplane tls cert create`",
				httpapi.ErrNoJoinToken)
		}
		return jointoken.Token{}, fmt.Errorf("%w: this mesh is not authenticated, so there is no secret to hand out; set encrypt (made with `edgeplane keygen`) on every node first",
			httpapi.ErrNoJoinToken)
	}
	if len(seeds) == 0 {
		seeds = tokenSeeds(j.mesh.LocalMember(), j.mesh.Members())
	}
	return jointoken.Token{Key: base64.StdEncoding.EncodeToString(kr.GetPrimaryKey()), Seeds: seeds}, nil
}

// tokenSeeds returns the gossip address of self, then those of up to
// maxTokenPeers other alive members.
func tokenSeeds(self gossip.Member, members []gossip.Member) []string {
	seeds := []string{self.Address()}
	for _, m := range members {
		if len(seeds) > maxTokenPeers {
			break
		}
		if m.Name != self.Name && m.Status == gossip.StatusAlive && !slices.Contains(seeds, m.Address()) {
			seeds = append(seeds, m.Address())
		}
	}
	return seeds
}
