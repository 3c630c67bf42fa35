package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/internal/apitest"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

// render status lists the blocks as a table or JSON; render once -dry
// prints what each would write and writes nothing; render once renders.
func TestRender(t *testing.T) {
	a := apitest.Start(t)
	rendered := func(want string) {
		t.Helper()
		testutil.Eventually(t, 20*time.Second, func() error {
			if b, err := os.ReadFile(a.RenderDest); err != nil || string(b) != want {
				return fmt.Errorf("%s holds %q (%v), want %q", a.RenderDest, b, err, want)
			}
			return nil
		})
	}
	rendered("v=none")
	testutil.Eventually(t, 20*time.Second, func() error {
		if r := run(t, a.Addr, "", "render", "status"); r.code != 0 || !strings.Contains(r.stdout, "app   passing  "+a.RenderDest) {
			return fmt.Errorf("render status: %d %q %q", r.code, r.stdout, r.stderr)
		}
		return nil
	})
	r := run(t, a.Addr, "", "render", "status", "-format=json")
	var st []api.RenderStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st) != 1 || st[0].Name != "app" || st[0].Checksum == "" {
		t.Fatalf("render status -format=json: %q, %v", r.stdout, err)
	}
	run(t, a.Addr, "", "render", "status", "-format=yaml").expect(t, 1, "", "-format must be table or json")

	// A key the store's change feed reports renders again on its own; a
	// dry render in between shows the change without writing it.
	if err := a.Client.KV().Put(context.Background(), api.KVPair{Key: "render/v", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	rendered("v=1")
	run(t, a.Addr, "", "render", "once", "-dry").expect(t, 0, "> app ("+a.RenderDest+", 3 bytes, sha256 ", "")
	run(t, a.Addr, "", "render", "once").expect(t, 0, "app: passing: rendered", "")
}
