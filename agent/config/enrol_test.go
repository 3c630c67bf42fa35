package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/jointoken"
)

// TestJoinTokenOptions reads the join token from join_token or
// join_token_file: a bad token is blamed on its source without showing
// it, and the two together are refused.
func TestJoinTokenOptions(t *testing.T) {
	const key = "AAECAwQFBgcICQoLDA0ODw=="
	want := jointoken.Token{Key: key, Seeds: []string{"10.20.0.11:7946"}}
	tok, err := jointoken.Encode(want)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := func(name, content string) string { return writeFile(t, dir, name, content) }
	good := file("good.token", tok+"\n")
	bad := "ep1.c2VjcmV0LXdvcmRz" // "secret-words"
	tests := []struct {
		name          string
		args          []string
		env           map[string]string
		key, wantErr  string // "" when valid
		source, shown string
	}{
		{name: "flag", args: []string{"-join-token", tok}},
		{name: "env", env: map[string]string{"EDGEPLANE_JOIN_TOKEN": tok}},
		{name: "file", args: []string{"-join-token-file", good}},
		{name: "bad flag", args: []string{"-join-token", bad}, key: "join_token", wantErr: "malformed content", source: "flag -join-token"},
		{name: "bad file", args: []string{"-join-token-file", file("bad.token", bad)}, key: "join_token_file", wantErr: "malformed content"},
		{name: "a key, not a token", args: []string{"-join-token", key}, key: "join_token", wantErr: "not an edgeplane join token", shown: key},
		{name: "missing file", args: []string{"-join-token-file", filepath.Join(dir, "nope")}, key: "join_token_file", wantErr: "no such file"},
		{name: "large file", args: []string{"-join-token-file", file("big.token", strings.Repeat("A", 5000))}, key: "join_token_file", wantErr: "not a join token file"},
		{name: "both", args: []string{"-join-token", tok, "-join-token-file", good}, key: "join_token_file", wantErr: "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.args, tt.env)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				got, err := c.ReadJoinToken()
				if err != nil || got == nil || got.Key != want.Key || !slices.Equal(got.Seeds, want.Seeds) {
					t.Fatalf("ReadJoinToken() = %v, %v", got, err)
				}
				return
			}
			e := asError(err, tt.key)
			if e == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasSuffix(e.Source, tt.source) {
				t.Fatalf("load = %v, want a %s error from %q containing %q", err, tt.key, tt.source, tt.wantErr)
			}
			for _, secret := range []string{"secret-words", bad, tok, tt.shown} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Fatalf("the error shows the token or its content: %v", err)
				}
			}
		})
	}
	c := valid()
	if got, err := c.ReadJoinToken(); got != nil || err != nil {
		t.Fatalf("ReadJoinToken() without a token = %v, %v", got, err)
	}
}

func TestInsecureMeshOption(t *testing.T) {
	if c := mustLoad(t, nil, nil); c.InsecureMesh {
		t.Fatal("insecure_mesh is on by default")
	}
	if c := mustLoad(t, []string{"-insecure-mesh"}, nil); !c.InsecureMesh {
		t.Fatal("-insecure-mesh did not set insecure_mesh")
	}
	file := writeFile(t, t.TempDir(), "e.yaml", "insecure_mesh: true\n")
	if c := mustLoad(t, []string{"-config-file", file}, nil); !c.InsecureMesh {
		t.Fatal("insecure_mesh: true in a file did not set it")
	}
}
