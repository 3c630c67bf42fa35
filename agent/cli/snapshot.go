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

// snapshotSave streams the snapshot into a temporary file beside FILE and
// renames it into place only once it is complete.
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
	n, err := io.Copy(tmp, resp.Body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fail(std, "saving snapshot: %v", err)
	}
	fmt.Fprintf(std.Stdout, "Saved and verified snapshot to %s (%d bytes)\n", path, n)
	return 0
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
	var res struct{ Changed int }
	if err := json.Unmarshal(body, &res); err != nil {
		return fail(std, "malformed answer: %v", err)
	}
	fmt.Fprintf(std.Stdout, "Restored snapshot from %s: %d records changed the store\n", path, res.Changed)
	return 0
}
