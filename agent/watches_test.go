package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

// lastInput is a watch handler that keeps its last stdin in dir/in and
// adds a line to dir/runs per run.
func lastInput(dir string) []string {
	return []string{"/bin/sh", "-c", `cat > "$1/in.new" && mv "$1/in.new" "$1/in" && echo "$CONSUL_INDEX" >> "$1/runs"`, "sh", dir}
}

// waitInput waits until dir's handler has run n times and returns what
// it last read.
func waitInput(t *testing.T, dir string, n int) string {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		b, _ := os.ReadFile(filepath.Join(dir, "runs"))
		if got := strings.Count(string(b), "\n"); got != n {
			return fmt.Errorf("%d runs, want %d", got, n)
		}
		return nil
	})
	b, err := os.ReadFile(filepath.Join(dir, "in"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (ta *testAgent) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(ta.url(path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// The agent runs its configured watches with its own API's JSON, at
// start and on change, and a reload starts new watches and stops removed
// ones.
func TestWatchesRunAndReload(t *testing.T) {
	keyDir, servicesDir := t.TempDir(), t.TempDir()
	keyWatch := config.WatchDef{Type: "key", Key: "app/x", Args: lastInput(keyDir)}
	ta := newTestAgentWith(t, func(c *config.Config) { c.Watches = []config.WatchDef{keyWatch} })
	change := ta.runReloadable(t)

	if in := waitInput(t, keyDir, 1); in != "null\n" {
		t.Fatalf("at start the key watch read %q", in)
	}
	req, _ := http.NewRequest(http.MethodPut, ta.url("/v1/kv/app/x"), strings.NewReader("hello"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	in := waitInput(t, keyDir, 2)
	_, body := ta.get(t, "/v1/kv/app/x")
	var list []json.RawMessage
	if err := json.Unmarshal(body, &list); err != nil || len(list) != 1 || in != string(list[0])+"\n" {
		t.Fatalf("the key watch read %q; the API answers %s", in, body)
	}

	change(func(c *config.Config) {
		c.Watches = []config.WatchDef{keyWatch, {Type: "services", Args: lastInput(servicesDir)}}
	})
	res, err := ta.Reload()
	if err != nil || !slices.Contains(res.Applied, "watches") {
		t.Fatalf("Reload = %+v, %v; want watches applied", res, err)
	}
	in = waitInput(t, servicesDir, 1)
	if _, body := ta.get(t, "/v1/catalog/services"); in != string(body)+"\n" || !strings.Contains(in, `"edgeplane"`) {
		t.Fatalf("the services watch read %q; the API answers %s", in, body)
	}
	if got := fmt.Sprint(ta.watches.Running()); got != "[key:app/x services]" {
		t.Fatalf("running watches %s", got)
	}

	change(func(c *config.Config) { c.Watches = c.Watches[1:] })
	if res, err := ta.Reload(); err != nil || !slices.Contains(res.Applied, "watches") {
		t.Fatalf("Reload = %+v, %v; want watches applied", res, err)
	}
	if got := fmt.Sprint(ta.watches.Running()); got != "[services]" {
		t.Fatalf("running watches after the removal %s", got)
	}
	if n := strings.Count(readFile(t, filepath.Join(keyDir, "runs")), "\n"); n != 2 {
		t.Fatalf("the key watch ran %d times; it was not run again by the reload", n)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
