package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Stages of a render, the stage label of its failures.
const (
	StageRender = "render" // the template failed (not a missing key)
	StageWrite  = "write"  // writing, renaming or restoring a file
	StageCheck  = "check"  // the check failed; the previous file stays
	StageReload = "reload" // the reload failed; the previous file was put back
)

// StageError is a failed render: the stage it failed at, and whether the
// previous file was put back after the new one was in place.
type StageError struct {
	Stage      string
	Err        error
	RolledBack bool
}

func (e *StageError) Error() string {
	msg := e.Stage + ": " + e.Err.Error()
	if e.RolledBack {
		msg += " (rolled back)"
	}
	return msg
}

func (e *StageError) Unwrap() error { return e.Err }

// candidateArg stands, in an argument of check, for the candidate file.
const candidateArg = "{{.Candidate}}"

// tempPattern names the temporary files beside a destination; a crash
// may leave one, which the next apply removes.
func tempPattern(base string) string { return "." + base + ".edgeplane-*" }

// applier writes one block's destination safely.
type applier struct {
	spec  Spec
	run   func(ctx context.Context, args []string, timeout time.Duration) (string, error)
	pause func(ctx context.Context) error // the splay before a reload
	swept bool
}

// previous is the destination as it was before an apply.
type previous struct {
	exists   bool
	data     []byte
	mode     os.FileMode
	uid, gid int
}

// target is the file written for dest: dest itself, or the file a
// symbolic link at dest points to, so that the link is kept.
func target(dest string) (string, error) {
	fi, err := os.Lstat(dest)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return dest, nil
	}
	if t, err := filepath.EvalSymlinks(dest); err == nil {
		return t, nil
	}
	l, err := os.Readlink(dest) // a dangling link: create its target
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(l) {
		l = filepath.Join(filepath.Dir(dest), l)
	}
	return l, nil
}

func readPrevious(path string) (previous, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return previous{uid: -1, gid: -1}, nil
	}
	if err != nil {
		return previous{}, err
	}
	if !fi.Mode().IsRegular() {
		return previous{}, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := readLimited(path, MaxOutputBytes)
	if err != nil {
		return previous{}, err
	}
	p := previous{exists: true, data: data, mode: fi.Mode().Perm(), uid: -1, gid: -1}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		p.uid, p.gid = int(st.Uid), int(st.Gid)
	}
	return p, nil
}

// Apply writes content to the destination, as the package documentation
// says. It returns whether the destination changed, and a *StageError.
func (a *applier) apply(ctx context.Context, content []byte) (changed bool, err error) {
	path, err := target(a.spec.Destination)
	if err != nil {
		return false, &StageError{Stage: StageWrite, Err: err}
	}
	prev, err := readPrevious(path)
	if err != nil {
		return false, &StageError{Stage: StageWrite, Err: err}
	}
	if prev.exists && bytes.Equal(prev.data, content) {
		return false, nil
	}
	dir := filepath.Dir(path)
	if a.spec.CreateDestDirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return false, &StageError{Stage: StageWrite, Err: err}
		}
	}
	a.sweep(dir, filepath.Base(path))
	mode := a.spec.Perms
	if mode == 0 {
		mode = DefaultPerms
		if prev.exists {
			mode = prev.mode
		}
	}
	uid, gid, err := a.owner(prev)
	if err != nil {
		return false, &StageError{Stage: StageWrite, Err: err}
	}
	tmp, err := writeTemp(dir, filepath.Base(path), content, mode, uid, gid)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			err = unwritable(dir, err)
		}
		return false, &StageError{Stage: StageWrite, Err: err}
	}
	defer os.Remove(tmp) // gone once renamed
	swapped := a.spec.CheckMode == CheckSwapped
	if len(a.spec.Check) > 0 && !swapped {
		if _, err := a.run(ctx, substitute(a.spec.Check, tmp), a.spec.CommandTimeout); err != nil {
			return false, &StageError{Stage: StageCheck, Err: err}
		}
	}
	if a.spec.Backup && prev.exists {
		if err := writeBackup(path, prev); err != nil {
			return false, &StageError{Stage: StageWrite, Err: err}
		}
	}
	if err := replace(tmp, path); err != nil {
		return false, &StageError{Stage: StageWrite, Err: err}
	}
	if swapped {
		if _, err := a.run(ctx, substitute(a.spec.Check, path), a.spec.CommandTimeout); err != nil {
			if rerr := restore(path, prev); rerr != nil {
				return true, &StageError{Stage: StageCheck, Err: fmt.Errorf("%w; putting the previous file back: %w", err, rerr)}
			}
			return false, &StageError{Stage: StageCheck, Err: err, RolledBack: true}
		}
	}
	if len(a.spec.Reload) == 0 {
		return true, nil
	}
	if err := a.pause(ctx); err != nil {
		return true, &StageError{Stage: StageReload, Err: fmt.Errorf("waiting for the splay: %w", err)}
	}
	if _, err := a.run(ctx, a.spec.Reload, a.spec.CommandTimeout); err != nil {
		if rerr := restore(path, prev); rerr != nil {
			return true, &StageError{Stage: StageReload, Err: fmt.Errorf("%w; putting the previous file back: %w", err, rerr)}
		}
		if _, rerr := a.run(ctx, a.spec.Reload, a.spec.CommandTimeout); rerr != nil {
			err = fmt.Errorf("%w; reloading the previous file: %w", err, rerr)
		}
		return false, &StageError{Stage: StageReload, Err: err, RolledBack: true}
	}
	return true, nil
}

// sweep removes, once, the temporary files a crash left beside path.
func (a *applier) sweep(dir, base string) {
	if a.swept {
		return
	}
	a.swept = true
	stale, _ := filepath.Glob(filepath.Join(dir, tempPattern(base)))
	for _, f := range stale {
		os.Remove(f)
	}
}

// owner returns the uid and gid the new file gets: the configured user
// and group, else the previous file's when the agent may set them, else
// -1 (the agent's).
func (a *applier) owner(prev previous) (uid, gid int, err error) {
	uid, gid = -1, -1
	if prev.exists && os.Geteuid() == 0 {
		uid, gid = prev.uid, prev.gid
	}
	if a.spec.User != "" {
		if uid, err = lookupID(a.spec.User, true); err != nil {
			return 0, 0, err
		}
	}
	if a.spec.Group != "" {
		if gid, err = lookupID(a.spec.Group, false); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

// lookupID returns the id of a user or group name, or of a number.
func lookupID(name string, isUser bool) (int, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	var id string
	if isUser {
		u, err := user.Lookup(name)
		if err != nil {
			return 0, err
		}
		id = u.Uid
	} else {
		g, err := user.LookupGroup(name)
		if err != nil {
			return 0, err
		}
		id = g.Gid
	}
	return strconv.Atoi(id)
}

// substitute replaces {{.Candidate}} in args with path.
func substitute(args []string, path string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, candidateArg, path)
	}
	return out
}

// writeTemp writes data to a new file beside dir/base, fsynced, with
// mode and owner, and returns its path.
func writeTemp(dir, base string, data []byte, mode os.FileMode, uid, gid int) (_ string, err error) {
	f, err := os.CreateTemp(dir, tempPattern(base))
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return "", err
	}
	if err = f.Chmod(mode); err != nil {
		return "", err
	}
	if uid >= 0 || gid >= 0 {
		if err = f.Chown(uid, gid); err != nil {
			return "", err
		}
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// replace renames tmp over path and fsyncs their directory, so the
// rename survives a power cut.
func replace(tmp, path string) error {
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// restore puts prev back at path: its bytes, mode and owner, atomically;
// or removes path when there was no previous file.
func restore(path string, prev previous) error {
	if !prev.exists {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return syncDir(filepath.Dir(path))
	}
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		uid, gid = prev.uid, prev.gid
	}
	tmp, err := writeTemp(filepath.Dir(path), filepath.Base(path), prev.data, prev.mode, uid, gid)
	if err != nil {
		return err
	}
	if err := replace(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeBackup keeps prev as path.bak, atomically.
func writeBackup(path string, prev previous) error {
	return restore(path+".bak", prev)
}

// DropIn is the systemd drop-in that lets the packaged unit, whose
// ProtectSystem=strict makes /etc read-only to the agent, write the
// destinations' directories (ReadWritePaths=).
const DropIn = "/etc/systemd/system/edgeplane.service.d/render.conf"

// unwritable explains a directory the agent may not write.
func unwritable(dir string, err error) error {
	return fmt.Errorf("the agent may not write %s (%w): under the packaged systemd unit, list it in ReadWritePaths= of %s "+
		"(the package ships a template: /usr/share/edgeplane/render/render.conf), then systemctl daemon-reload and restart edgeplane", dir, err, DropIn)
}
