package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

// devDirPrefix names the temporary data dirs of -dev agents.
const devDirPrefix = "edgeplane-dev-"

// devDirMinAge keeps the sweep away from a dir made a moment ago: its
// agent may not have opened (and locked) its store yet.
const devDirMinAge = time.Minute

// makeDevDir makes the temporary data dir of a -dev agent, after removing
// those that earlier -dev agents of this user left behind: an agent
// removes its dir when it stops, but one killed with SIGKILL cannot.
func makeDevDir(log *slog.Logger) (string, error) {
	tmp := os.TempDir()
	removed, err := sweepDevDirs(tmp, time.Now())
	if len(removed) > 0 {
		log.Info("removed the data dirs of -dev agents that did not stop", "dirs", removed)
	}
	if err != nil {
		log.Warn("looking for the data dirs of stopped -dev agents", "dir", tmp, "err", err)
	}
	return os.MkdirTemp(tmp, devDirPrefix)
}

// sweepDevDirs removes the edgeplane-dev-* dirs directly in tmp that are
// real directories owned by this user, were last modified at least
// devDirMinAge before now, and whose store no process holds: an agent
// keeps an exclusive flock on its store file for as long as it runs (see
// store.Open), so a dir whose store can be locked belongs to an agent that
// is gone. It returns the paths removed and the first error met; a dir it
// cannot check is left alone.
func sweepDevDirs(tmp string, now time.Time) ([]string, error) {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil, err
	}
	var removed []string
	var firstErr error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), devDirPrefix) || !e.IsDir() { // IsDir is false for a symlink
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		ok, err := removeIfAbandoned(dir, now)
		if ok {
			removed = append(removed, dir)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return removed, firstErr
}

// removeIfAbandoned removes dir if it is an old dev data dir of this user
// whose store no process holds, and reports whether it did. It keeps the
// store locked until the dir is gone, so an agent that opens the store
// meanwhile waits, then fails, rather than running in a removed dir.
func removeIfAbandoned(dir string, now time.Time) (bool, error) {
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return false, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
		return false, nil
	}
	if now.Sub(fi.ModTime()) < devDirMinAge {
		return false, nil
	}
	f, err := os.Open(filepath.Join(dir, store.FileName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Its agent stopped before it made its store.
	case err != nil:
		return false, err
	default:
		defer f.Close() // releases the lock
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil // a running agent holds it
		}
		if err != nil {
			return false, fmt.Errorf("locking %s: %w", f.Name(), err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, err
	}
	return true, nil
}
