// Package version holds the build's version, commit and date, stamped at
// link time:
//
//	go build -ldflags "-X github.com/edgeplane/edgeplane/agent/version.Version=1.2.3 \
//	  -X github.com/edgeplane/edgeplane/agent/version.Commit=abc123 \
//	  -X github.com/edgeplane/edgeplane/agent/version.BuildDate=2026-11-26T12:00:00Z"
package version

import (
	"fmt"
	"runtime"
	"time"
)

// Stamped at link time; the defaults describe an unstamped development build.
var (
	Version   = "0.1.0-dev"
	Commit    = "unknown"
	BuildDate = "" // RFC 3339
)

// sourceDate is a date this source tree is known to postdate. The clock
// floor falls back to it when the build is not stamped.
const sourceDate = "2026-11-01T00:00:00Z"

// Floor is the earliest time the agent's clock may read: the build date, or
// for unstamped builds the date of the source. A device whose clock reads
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
