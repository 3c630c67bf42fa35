package agent

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

// TestSweepDevDirs: a -dev agent removes the data dirs that -dev agents
// killed earlier left behind, and only those: not a running agent's, not
// one made a moment ago, not another program's, not a symlink.
func TestSweepDevDirs(t *testing.T) {
	tmp := t.TempDir()
	now := time.Now()
	old := now.Add(-2 * devDirMinAge)
	elsewhere := t.TempDir() // a symlink's target, which must survive
	makeStore(t, elsewhere, false)

	tests := []struct {
		name     string
		store    bool // the dir holds a store file
		held     bool // an open store locks it
		modified time.Time
		symlink  bool
		swept    bool
	}{
		{name: "edgeplane-dev-killed", store: true, modified: old, swept: true},
		{name: "edgeplane-dev-killed-before-its-store", modified: old, swept: true},
		{name: "edgeplane-dev-running", store: true, held: true, modified: old},
		{name: "edgeplane-dev-just-made", store: true, modified: now},
		{name: "edgeplane-dev-just-made-empty", modified: now},
		{name: "edgeplane-other", store: true, modified: old},
		{name: "edgeplane-dev-link", symlink: true},
	}
	for _, tt := range tests {
		dir := filepath.Join(tmp, tt.name)
		if tt.symlink {
			if err := os.Symlink(elsewhere, dir); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if tt.store {
			makeStore(t, dir, tt.held)
		}
		if err := os.Chtimes(dir, tt.modified, tt.modified); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(elsewhere, old, old); err != nil {
		t.Fatal(err)
	}

	removed, err := sweepDevDirs(tmp, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		dir := filepath.Join(tmp, tt.name)
		_, statErr := os.Lstat(dir)
		if gone := os.IsNotExist(statErr); gone != tt.swept {
			t.Errorf("%s: removed %v, want %v (%v)", tt.name, gone, tt.swept, statErr)
		}
		if listed := slices.Contains(removed, dir); listed != tt.swept {
			t.Errorf("%s: reported removed %v, want %v", tt.name, listed, tt.swept)
		}
	}
	if _, err := os.Stat(filepath.Join(elsewhere, store.FileName)); err != nil {
		t.Fatalf("the symlink's target lost its store: %v", err)
	}
}

// makeStore creates a store in dir and, if held, keeps it open (and
// locked) until the test ends.
func makeStore(t *testing.T, dir string, held bool) {
	t.Helper()
	s, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if held {
		t.Cleanup(func() { s.Close() })
		return
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
