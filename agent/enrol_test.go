package agent

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/jointoken"
	"github.com/edgeplane/edgeplane/gossip"
)

// keyringKeys returns the keys of dir's keyring file, the one in use
// first; nil when there is none.
func keyringKeys(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, keyringFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var f struct{ Keys []string }
	if err != nil || json.Unmarshal(b, &f) != nil {
		t.Fatalf("keyring %s: %v %q", dir, err, b)
	}
	return f.Keys
}

// TestEnrol: a token's key becomes the keyring of a node without a key;
// a node that has one, in its data dir or configured, keeps it, and says
// so when the token's key is not among its keys.
func TestEnrol(t *testing.T) {
	tokA := &jointoken.Token{Key: gossip.GenerateKey(), Seeds: []string{"127.0.0.1:7946"}}
	tokB := &jointoken.Token{Key: gossip.GenerateKey(), Seeds: []string{"127.0.0.1:7946"}}
	const differs = "the join token's gossip key"
	for _, tt := range []struct {
		name    string
		encrypt string
		saved   []*jointoken.Token // enrolled with first, in order
		tok     *jointoken.Token
		want    string // the keyring's key in use afterwards; "" none
		warning bool
	}{
		{name: "no token", tok: nil, want: ""},
		{name: "new device", tok: tokA, want: tokA.Key},
		{name: "restart, same token", saved: []*jointoken.Token{tokA}, tok: tokA, want: tokA.Key},
		{name: "token of another mesh", saved: []*jointoken.Token{tokA}, tok: tokB, want: tokA.Key, warning: true},
		{name: "encrypt wins", encrypt: tokB.Key, tok: tokA, want: "", warning: true},
		{name: "encrypt, same key", encrypt: tokA.Key, tok: tokA, want: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := config.DevDefault()
			cfg.Encrypt = tt.encrypt
			for _, s := range tt.saved {
				if err := enrol(cfg, s, dir, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
					t.Fatal(err)
				}
			}
			var logs testutil.SyncBuffer
			if err := enrol(cfg, tt.tok, dir, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
				t.Fatal(err)
			}
			keys := keyringKeys(t, dir)
			if tt.want == "" && keys != nil || tt.want != "" && !slices.Equal(keys, []string{tt.want}) {
				t.Fatalf("keyring = %q, want %q", keys, tt.want)
			}
			if got := strings.Contains(logs.String(), differs); got != tt.warning {
				t.Fatalf("warned %v, want %v:\n%s", got, tt.warning, logs.String())
			}
			for _, tok := range []*jointoken.Token{tokA, tokB} {
				if strings.Contains(logs.String(), tok.Key) {
					t.Fatalf("a gossip key was logged:\n%s", logs.String())
				}
			}
		})
	}
}

func TestWithSeeds(t *testing.T) {
	tok := &jointoken.Token{Key: gossip.GenerateKey(), Seeds: []string{"10.0.0.2:7946", "10.0.0.1:7946"}}
	if got := withSeeds([]string{"10.0.0.1:7946", "seed"}, tok); !slices.Equal(got, []string{"10.0.0.1:7946", "seed", "10.0.0.2:7946"}) {
		t.Fatalf("withSeeds = %q", got)
	}
	if got := withSeeds(nil, tok); !slices.Equal(got, tok.Seeds) {
		t.Fatalf("withSeeds(nil) = %q", got)
	}
	if got := withSeeds([]string{"a"}, nil); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("withSeeds without a token = %q", got)
	}
}

// TestTokenSeeds: this node first, then up to four other alive members.
func TestTokenSeeds(t *testing.T) {
	member := func(name string, port uint16, st gossip.Status) gossip.Member {
		m := apitest.Member(name, "s", st)
		m.Port = port
		return m
	}
	self := member("self", 1, gossip.StatusAlive)
	members := []gossip.Member{
		member("a", 2, gossip.StatusAlive), self, member("failed", 3, gossip.StatusFailed),
		member("left", 4, gossip.StatusLeft), member("b", 5, gossip.StatusAlive), member("c", 6, gossip.StatusAlive),
		member("d", 7, gossip.StatusAlive), member("e", 8, gossip.StatusAlive),
	}
	want := []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:5", "127.0.0.1:6", "127.0.0.1:7"}
	if got := tokenSeeds(self, members); !slices.Equal(got, want) {
		t.Fatalf("tokenSeeds = %q, want %q", got, want)
	}
	if got := tokenSeeds(self, []gossip.Member{self}); !slices.Equal(got, want[:1]) {
		t.Fatalf("tokenSeeds alone = %q", got)
	}
}
