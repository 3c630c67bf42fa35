package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/internal/apitest"
	"github.com/edgeplane/edgeplane/store"
)

func TestKVHistoryAndRollback(t *testing.T) {
	a := apitest.Start(t)
	var first, fifth store.Entry
	for i := range 12 {
		e, err := a.Store.Put("app/mode", fmt.Appendf(nil, "v%d", i), 0)
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case 2:
			first = e
		case 5:
			fifth = e
		}
	}
	r := run(t, a.Addr, "", "kv", "history", "app/mode")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 11 || !strings.HasPrefix(lines[0], "VERSION") ||
		!strings.Contains(lines[1], "v11") || !strings.Contains(lines[10], "v2") || !strings.Contains(lines[1], a.Store.NodeID()) {
		t.Fatalf("kv history = %d\n%s", r.code, r.stdout)
	}
	run(t, a.Addr, "", "kv", "history", "-lost", "app/mode").expect(t, 0, "No history of: app/mode", "")
	run(t, a.Addr, "", "kv", "history", "-prefix", "app/").expect(t, 0, "KEY", "")
	run(t, a.Addr, "", "kv", "history").expect(t, 1, "", "exactly one KEY")

	// One key: written at once.
	run(t, a.Addr, "", "kv", "rollback", "-to", first.Version.String(), "app/mode").
		expect(t, 0, "put    app/mode = v2 (was v11", "")
	run(t, a.Addr, "", "kv", "get", "app/mode").expect(t, 0, "v2\n", "")
	run(t, a.Addr, "", "kv", "history", "app/mode").expect(t, 0, fmt.Sprint("rollback of ", uint64(first.Version)), "")
	run(t, a.Addr, "", "kv", "rollback", "app/mode").expect(t, 1, "", "needs -to")
	run(t, a.Addr, "", "kv", "rollback", "-to", "12345", "app/mode").expect(t, 1, "", "no such version")

	// A prefix: printed, written only with -yes.
	at := a.Store.Clock().Now()
	if _, err := a.Store.Put("app/mode", []byte("later"), 0); err != nil {
		t.Fatal(err)
	}
	run(t, a.Addr, "", "kv", "rollback", "-prefix", "-to", at.String(), "app/").
		expect(t, 0, "put    app/mode = v2 (was later", "")
	run(t, a.Addr, "", "kv", "rollback", "-prefix", "-to", at.String(), "app/").expect(t, 0, "run again with -yes", "")
	run(t, a.Addr, "", "kv", "rollback", "-prefix", "-dry", "-to", at.String(), "app/").expect(t, 0, "put    app/mode = v2", "")
	run(t, a.Addr, "", "kv", "get", "app/mode").expect(t, 0, "later\n", "")
	run(t, a.Addr, "", "kv", "rollback", "-prefix", "-yes", "-to", at.String(), "app/").expect(t, 0, "Success! Rolled back 1 key(s)", "")
	run(t, a.Addr, "", "kv", "get", "app/mode").expect(t, 0, "v2\n", "")
	run(t, a.Addr, "", "kv", "rollback", "-prefix", "-yes", "-to", at.String(), "app/").expect(t, 0, "Nothing to change", "")
	run(t, a.Addr, "", "kv", "rollback", "-prefix", "-yes", "-dry", "-to", "1h", "app/").expect(t, 1, "", "do not go together")

	// The schema in force refuses a value.
	run(t, a.Addr, "", "kv", "put", "_schema/app/mode", `{"type":"int"}`).expect(t, 0, "", "")
	run(t, a.Addr, "", "kv", "rollback", "-to", fifth.Version.String(), "app/mode").expect(t, 1, "", "app/mode")
	run(t, a.Addr, "", "kv", "get", "app/mode").expect(t, 0, "v2\n", "")
}
