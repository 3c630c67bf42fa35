package version

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := func(kv ...string) *debug.BuildInfo {
		info := &debug.BuildInfo{}
		for i := 0; i < len(kv); i += 2 {
			info.Settings = append(info.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return info
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name               string
		info               *debug.BuildInfo
		commit, date       string
		wantCommit, wantAt string
	}{
		{"nothing stamped, no vcs", vcs(), "unknown", "", "unknown", ""},
		{"vcs fills both", vcs("vcs.revision", rev, "vcs.time", "2026-11-30T10:00:00Z"), "unknown", "",
			"0123456789ab", "2026-11-30T10:00:00Z"},
		{"modified tree", vcs("vcs.revision", rev, "vcs.modified", "true"), "unknown", "",
			"0123456789ab-dirty", ""},
		{"link flags win", vcs("vcs.revision", rev, "vcs.time", "2026-11-30T10:00:00Z"), "abc", "2026-12-01T00:00:00Z",
			"abc", "2026-12-01T00:00:00Z"},
		{"bad vcs time ignored", vcs("vcs.time", "yesterday"), "unknown", "", "unknown", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, d := fromBuildInfo(tt.info, tt.commit, tt.date)
			if c != tt.wantCommit || d != tt.wantAt {
				t.Errorf("got (%q, %q), want (%q, %q)", c, d, tt.wantCommit, tt.wantAt)
			}
		})
	}
}

func TestFloorFallsBackToSourceDate(t *testing.T) {
	defer func(d string) { BuildDate = d }(BuildDate)
	BuildDate = ""
	want, _ := time.Parse(time.RFC3339, sourceDate)
	if got := Floor(); !got.Equal(want) {
		t.Errorf("Floor() = %v, want %v", got, want)
	}
	BuildDate = "2026-11-30T10:00:00Z"
	if got := Floor(); got.Format(time.RFC3339) != BuildDate {
		t.Errorf("Floor() = %v, want %v", got, BuildDate)
	}
}

// TestPlainBuildKnowsItsCommit builds the binary as the README's build
// command does, from this git checkout, and checks that `edgeplane version`
// names the checkout's commit and its date. -buildvcs=true is the
// toolchain's default in a checkout; it is spelled out so that a
// GOFLAGS=-buildvcs=false in the environment does not hide the stamps.
func TestPlainBuildKnowsItsCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("not in a git checkout: %v", err)
	}
	top := strings.TrimSpace(string(root))
	if fi, err := os.Stat(filepath.Join(top, ".git")); err != nil || !fi.IsDir() {
		// The toolchain stamps VCS information only where .git is a
		// directory, not in a linked worktree (.git is a file there).
		t.Skipf("%s is not a plain git checkout", top)
	}
	head, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "edgeplane")
	build := exec.Command("go", "build", "-buildvcs=true", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./agent/cmd/edgeplane")
	build.Dir = top
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	if !strings.Contains(got, "commit "+strings.TrimSpace(string(head))) || strings.Contains(got, "unknown") {
		t.Errorf("edgeplane version = %q, want the commit %s and a build date", got, head)
	}
}
