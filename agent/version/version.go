// Package version holds the build's version, commit and date.
//
// Release builds stamp all three at link time:
//
//	go build -ldflags "-X github.com/edgeplane/edgeplane/agent/version.Version=1.2.3 \
//	  -X github.com/edgeplane/edgeplane/agent/version.Commit=abc123 \
//	  -X github.com/edgeplane/edgeplane/agent/version.BuildDate=2026-11-26T12:00:00Z"
//
// A plain `go build` from a git checkout stamps nothing, but the Go
// toolchain records the commit and its time in the binary's build
// information (vcs.revision, vcs.time); the commit and date come from there
// when the flags did not set them, so every such build knows what it is and
// has a clock floor.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"time"
)

// Stamped at link time; the defaults describe an unstamped development build.
var (
	Version   = "0.1.0-dev"
	Commit    = "unknown"
	BuildDate = "" // RFC 3339
)

func init() {
	if info, ok := debug.ReadBuildInfo(); ok {
		Commit, BuildDate = fromBuildInfo(info, Commit, BuildDate)
	}
}

// fromBuildInfo fills the commit and date the link flags left unset from
// the toolchain's VCS stamps. A commit built with uncommitted changes gets
// a "-dirty" suffix, and its date is still the commit's: it is a floor.
func fromBuildInfo(info *debug.BuildInfo, commit, date string) (string, string) {
	var rev, at string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if commit == "unknown" && rev != "" {
		commit = rev[:min(len(rev), 12)]
		if dirty {
			commit += "-dirty"
		}
	}
	if date == "" {
		if _, err := time.Parse(time.RFC3339, at); err == nil {
			date = at
		}
	}
	return commit, date
}

// sourceDate is a date this source tree is known to postdate. The clock
// floor falls back to it when the build carries no date at all (go run,
// go test, or a build outside a git checkout).
const sourceDate = "2026-11-01T00:00:00Z"

// Floor is the earliest time the agent's clock may read: the build date, or
// for builds without one the date of the source. A device whose clock reads
// 1970 after boot still stamps its writes after every write this binary
// could have made before.
func Floor() time.Time {
	for _, s := range []string{BuildDate, sourceDate} {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// String is the one-line description `edgeplane version` prints.
func String() string {
	date := BuildDate
	if date == "" {
		date = "unknown"
	}
	return fmt.Sprintf("edgeplane %s (commit %s, built %s, %s %s/%s)",
		Version, Commit, date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
