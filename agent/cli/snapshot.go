package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

// snapshotTimeout bounds a snapshot's transfer: a large store streams for
// a while.
const snapshotTimeout = time.Hour

type snapshotSaveCmd struct{ noFlags }

func (*snapshotSaveCmd) spec() spec {
	return spec{args: "FILE", minArgs: 1, maxArgs: 1, agent: true, timeout: snapshotTimeout, help: `
Writes a backup of the local agent's whole store to FILE. The backup is
verified as it arrives (every frame's checksum, the record count, nothing
after the end) and FILE appears only once it is complete.`}
}

// run streams the snapshot into a temporary file beside FILE, verifying
// it on the way (header, every frame's checksum, the end frame's count,
// nothing after it), and renames it into place only once it is complete
// and verified. Otherwise the temporary file is removed.
func (*snapshotSaveCmd) run(e *env) int {
	path := e.arg(0)
	body, err := e.client.SnapshotSave(e.ctx)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fail(e, "%v", err)
	}
	defer os.Remove(tmp.Name())
	counted := &countingWriter{w: tmp}
	records, err := store.VerifySnapshot(io.TeeReader(body, counted))
	if err != nil {
		tmp.Close()
		return fail(e, "the agent's answer is not a valid snapshot, nothing saved: %v", err)
	}
	err = tmp.Sync()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fail(e, "saving snapshot: %v", err)
	}
	fmt.Fprintf(e.Stdout, "Saved and verified snapshot to %s (%d records, %d bytes)\n", path, records, counted.n)
	return 0
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	return n, err
}

type snapshotRestoreCmd struct{ noFlags }

func (*snapshotRestoreCmd) spec() spec {
	return spec{args: "FILE", minArgs: 1, maxArgs: 1, agent: true, timeout: snapshotTimeout, help: `
Merges the backup in FILE into the local agent's store by last-writer-wins:
a record changes the store only if it is newer than what the store holds.
What changed is spread to the mesh like any write.`}
}

func (*snapshotRestoreCmd) run(e *env) int {
	path := e.arg(0)
	f, err := os.Open(path)
	if err != nil {
		return fail(e, "%v", err)
	}
	defer f.Close()
	res, err := e.client.SnapshotRestore(e.ctx, f)
	if err != nil {
		return fail(e, "%v", err)
	}
	fmt.Fprintf(e.Stdout, "Restored snapshot from %s: %d records changed the store\n", path, res.Changed)
	if res.Quarantined > 0 {
		fmt.Fprintf(e.Stdout, "%d records whose keys are not valid UTF-8 were quarantined, not restored (see edgeplane info)\n", res.Quarantined)
	}
	return 0
}
