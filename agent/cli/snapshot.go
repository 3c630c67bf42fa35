package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

const snapshotUsage = `Usage: edgeplane snapshot <save | restore> [options] FILE

    save FILE      Write a backup of the local agent's whole store to FILE
    restore FILE   Merge a backup into the store by last-writer-wins; what
                   changed is spread to the mesh like any write`

func runSnapshot(std IO, args []string) int {
	if len(args) >= 1 && isHelp(args[0]) {
		fmt.Fprintln(std.Stdout, snapshotUsage)
		return 0
	}
	if len(args) == 0 || (args[0] != "save" && args[0] != "restore") {
		fmt.Fprintln(std.Stderr, snapshotUsage)
		return 1
	}
	verb := args[0]
	fs := newFlagSet(std, "snapshot "+verb, "FILE", strings.TrimSpace(snapshotUsage))
	addr := addHTTPFlag(std, fs)
	if code, done := parse(std, fs, args[1:]); done {
		return code
	}
	if fs.NArg() != 1 {
		return fail(std, "snapshot %s takes exactly one FILE", verb)
	}
	c := newClient(*addr)
	c.http.Timeout = time.Hour // a large store streams for a while
	if verb == "save" {
		return snapshotSave(std, c, fs.Arg(0))
	}
	return snapshotRestore(std, c, fs.Arg(0))
}

// snapshotSave streams the snapshot into a temporary file beside FILE,
// verifying it on the way (header, every frame's checksum, the end frame's
// count, nothing after it), and renames it into place only once it is
// complete and verified. Otherwise the temporary file is removed.
func snapshotSave(std IO, c *client, path string) int {
	resp, err := c.http.Get(c.base + "/v1/edgeplane/snapshot")
	if err != nil {
		return fail(std, "cannot reach the agent: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fail(std, "%v", &apiError{status: resp.StatusCode, msg: strings.TrimSpace(string(msg))})
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fail(std, "%v", err)
	}
	defer os.Remove(tmp.Name())
	body := &countingWriter{w: tmp}
	records, err := store.VerifySnapshot(io.TeeReader(resp.Body, body))
	if err != nil {
		tmp.Close()
		return fail(std, "the agent's answer is not a valid snapshot, nothing saved: %v", err)
	}
	err = tmp.Sync()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fail(std, "saving snapshot: %v", err)
	}
	fmt.Fprintf(std.Stdout, "Saved and verified snapshot to %s (%d records, %d bytes)\n", path, records, body.n)
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

func snapshotRestore(std IO, c *client, path string) int {
	f, err := os.Open(path)
	if err != nil {
		return fail(std, "%v", err)
	}
	defer f.Close()
	req, err := http.NewRequest(http.MethodPut, c.base+"/v1/edgeplane/snapshot", f)
	if err != nil {
		return fail(std, "%v", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fail(std, "cannot reach the agent: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fail(std, "%v", &apiError{status: resp.StatusCode, msg: strings.TrimSpace(string(body))})
	}
	var res struct{ Changed, Quarantined int }
	if err := json.Unmarshal(body, &res); err != nil {
		return fail(std, "malformed answer: %v", err)
	}
	fmt.Fprintf(std.Stdout, "Restored snapshot from %s: %d records changed the store\n", path, res.Changed)
	if res.Quarantined > 0 {
		fmt.Fprintf(std.Stdout, "%d records whose keys are not valid UTF-8 were quarantined, not restored (see edgeplane info)\n", res.Quarantined)
	}
	return 0
}
