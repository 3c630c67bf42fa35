package render

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/schema"
)

// A changed key renders the destination again.
func TestKeyChangeRerenders(t *testing.T) {
	f := newFixture(t)
	put(t, f.st, "app/v", "1")
	f.run(Spec{Template: `v={{key "app/v"}}`})
	f.waitContent("v=1")
	put(t, f.st, "app/v", "2")
	f.waitContent("v=2")
	if s := f.status(); s.Health != HealthPassing || s.Writes != 2 || s.Checksum != checksum([]byte("v=2")) {
		t.Fatalf("status %+v", s)
	}
}

// A failing candidate check leaves the old file byte for byte, turns
// the block critical and counts the failure; the check was given the
// candidate, beside the destination.
func TestCandidateCheckFailureKeepsOldFile(t *testing.T) {
	f := newFixture(t)
	put(t, f.st, "app/v", "1")
	var candidate string
	f.cmds.set("validate", func(args []string) error {
		b, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		candidate = args[1]
		if string(b) == "v=bad" {
			return errors.New("exit status 1")
		}
		return nil
	})
	f.run(Spec{Template: `v={{key "app/v"}}`, Check: []string{"validate", "{{.Candidate}}"}})
	f.waitContent("v=1")
	before, _ := os.Stat(f.dest)
	put(t, f.st, "app/v", "bad")
	poll(t, "the block turns critical", func() bool { return f.status().Health == HealthCritical })
	if got := f.read(); got != "v=1" {
		t.Fatalf("destination %q, want the old file", got)
	}
	after, _ := os.Stat(f.dest)
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("the destination was replaced")
	}
	if filepath.Dir(candidate) != f.dir || candidate == f.dest {
		t.Fatalf("check ran on %q, want a candidate beside %q", candidate, f.dest)
	}
	if _, err := os.Stat(candidate); !os.IsNotExist(err) {
		t.Fatalf("the candidate is left behind: %v", err)
	}
	s := f.status()
	if s.LastErrorStage != StageCheck || !contains(s.Output, "check failed") || !contains(s.Output, "output of validate") {
		t.Fatalf("status %+v", s)
	}
	if r := f.lastReport(); r.Health != HealthCritical {
		t.Fatalf("reported %+v", r)
	}
	if got := f.m.Failures(); !slices.Equal(got, []Failure{{f.dest, StageRender, 0}, {f.dest, StageWrite, 0}, {f.dest, StageCheck, 1}, {f.dest, StageReload, 0}}) {
		t.Fatalf("failures %+v", got)
	}
}

// A failing swapped check ran with the new file in place, and the
// previous one is back.
func TestSwappedCheckFailureRestoresPrevious(t *testing.T) {
	f := newFixture(t)
	put(t, f.st, "app/v", "1")
	var seen []string
	f.cmds.set("nginx", func(args []string) error {
		b, _ := os.ReadFile(f.dest)
		seen = append(seen, string(b))
		if string(b) == "v=bad" {
			return errors.New("exit status 1")
		}
		return nil
	})
	f.run(Spec{Template: `v={{key "app/v"}}`, Check: []string{"nginx", "-t"}, CheckMode: CheckSwapped, Perms: 0o640})
	f.waitContent("v=1")
	put(t, f.st, "app/v", "bad")
	poll(t, "the block turns critical", func() bool { return f.status().Health == HealthCritical })
	if got := f.read(); got != "v=1" {
		t.Fatalf("destination %q, want the previous file", got)
	}
	if !slices.Equal(seen, []string{"v=1", "v=bad"}) {
		t.Fatalf("the check saw %q, want the new file in place each time", seen)
	}
	if fi, _ := os.Stat(f.dest); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if s := f.status(); s.LastRollback.IsZero() || s.LastErrorStage != StageCheck {
		t.Fatalf("status %+v", s)
	}
}

// A failing reload puts the previous file back and reloads again.
func TestReloadFailureRollsBack(t *testing.T) {
	f := newFixture(t)
	put(t, f.st, "app/v", "1")
	var loaded []string
	f.cmds.set("reload", func([]string) error {
		b, _ := os.ReadFile(f.dest)
		loaded = append(loaded, string(b))
		if string(b) == "v=2" {
			return ErrTimeout
		}
		return nil
	})
	f.run(Spec{Template: `v={{key "app/v"}}`, Reload: []string{"reload"}})
	f.waitContent("v=1")
	put(t, f.st, "app/v", "2")
	poll(t, "the block rolls back", func() bool { return f.status().Health == HealthCritical })
	if got := f.read(); got != "v=1" {
		t.Fatalf("destination %q, want the previous file", got)
	}
	if !slices.Equal(loaded, []string{"v=1", "v=2", "v=1"}) {
		t.Fatalf("reloads saw %q", loaded)
	}
	s := f.status()
	if !strings.HasPrefix(s.Output, "rolled back") || s.LastRollback.IsZero() || s.LastErrorStage != StageReload {
		t.Fatalf("status %+v", s)
	}
}

// A hundred changes within wait.min make one render and one reload.
func TestWaitCoalescesChanges(t *testing.T) {
	f := newFixture(t)
	put(t, f.st, "app/v", "0")
	f.write("v=0")
	m := f.run(Spec{Template: `v={{key "app/v"}}`, Reload: []string{"reload"}, WaitMin: 2 * time.Second, WaitMax: 10 * time.Second})
	f.waitRenders(1) // identical: nothing written, nothing reloaded
	t0 := f.clock.Now()
	for i := 1; i <= 100; i++ {
		put(t, f.st, "app/v", strings.Repeat("x", i%3)+string(rune('a'+i%26)))
	}
	put(t, f.st, "app/v", "100")
	f.caughtUp()
	b := m.blocks[0]
	poll(t, "the block waits out wait.min with no change pending", func() bool {
		return len(b.poke) == 0 && slices.ContainsFunc(f.clock.Pending(), t0.Add(2*time.Second).Equal)
	})
	f.clock.Advance(2 * time.Second)
	f.waitContent("v=100")
	f.waitRenders(2)
	if s := f.status(); s.Renders != 2 || s.Writes != 1 {
		t.Fatalf("status %+v, want 2 renders (start, then the changes) and 1 write", s)
	}
	if n := f.cmds.count("reload"); n != 1 {
		t.Fatalf("%d reloads, want 1", n)
	}
}

// wait.max bounds how long changes that keep coming delay a render.
func TestWaitMaxBoundsDelay(t *testing.T) {
	f := newFixture(t)
	put(t, f.st, "app/v", "0")
	m := f.run(Spec{Template: `v={{key "app/v"}}`, WaitMin: 2 * time.Second, WaitMax: 5 * time.Second})
	f.waitContent("v=0")
	t0 := f.clock.Now()
	b := m.blocks[0]
	for i := 1; i <= 4; i++ { // a change every second: never quiet for 2 s
		put(t, f.st, "app/v", string(rune('0'+i)))
		f.caughtUp()
		want := minTime(f.clock.Now().Add(2*time.Second), t0.Add(5*time.Second))
		poll(t, "the block waits", func() bool { return len(b.poke) == 0 && slices.ContainsFunc(f.clock.Pending(), want.Equal) })
		f.clock.Advance(time.Second)
	}
	if s := f.status(); s.Renders != 1 {
		t.Fatalf("rendered within wait.min of a change: %+v", s)
	}
	f.clock.Advance(time.Second) // t0+5s: wait.max
	f.waitContent("v=4")
}

// An identical render writes nothing, keeps the file's mtime, and does
// not reload.
func TestIdenticalRenderWritesNothing(t *testing.T) {
	f := newFixture(t)
	f.write("v=x")
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(f.dest, old, old); err != nil {
		t.Fatal(err)
	}
	f.run(Spec{Template: `v={{keyOrDefault "app/v" "x"}}`, Reload: []string{"reload"}})
	f.waitRenders(1)
	put(t, f.st, "app/v", "x") // read by the template, renders the same bytes
	f.waitRenders(2)
	fi, err := os.Stat(f.dest)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(old) {
		t.Fatalf("mtime %v, want %v", fi.ModTime(), old)
	}
	if s := f.status(); s.Writes != 0 || s.Health != HealthPassing {
		t.Fatalf("status %+v", s)
	}
	if n := f.cmds.count("reload"); n != 0 {
		t.Fatalf("%d reloads", n)
	}
}

// Writes to keys and services a block did not read cause no render.
func TestUnrelatedWritesCauseNoRender(t *testing.T) {
	f := newFixture(t)
	put(t, f.st, "app/v", "1")
	register(t, f.st, "n1", catalog.Instance{ID: "web1", Name: "web", Port: 80})
	f.run(Spec{Template: `{{key "app/v"}}{{range ls "app/list"}}{{.Key}}{{end}}{{range service "web"}} {{.ID}}{{end}}`})
	f.waitContent("1 web1")
	for i := range 50 {
		put(t, f.st, "other/"+string(rune('a'+i%26)), "x")
		put(t, f.st, "app/v2", "x")      // shares a prefix with app/v, not read
		put(t, f.st, "app/listing", "x") // not under app/list/
	}
	register(t, f.st, "n2", catalog.Instance{ID: "db1", Name: "db", Port: 5432},
		catalog.Check{ID: "db-alive", Name: "db", ServiceID: "db1", Status: catalog.StatusPassing})
	f.caughtUp()
	put(t, f.st, "app/v", "2")
	f.waitContent("2 web1")
	if s := f.status(); s.Renders != 2 || s.Writes != 2 {
		t.Fatalf("status %+v: unrelated writes rendered", s)
	}
}

// key on a missing key holds the block: the old file stays and the
// status names the key; keyOrDefault renders.
func TestMissingKeyHoldsBlock(t *testing.T) {
	f := newFixture(t)
	f.write("old")
	f.run(Spec{Template: `{{key "app/missing"}}`})
	poll(t, "the block waits for the key", func() bool { return slices.Equal(f.status().WaitingFor, []string{"app/missing"}) })
	s := f.status()
	if s.Health != HealthWarning || !contains(s.Output, `waiting for "app/missing"`) || f.read() != "old" {
		t.Fatalf("status %+v, file %q", s, f.read())
	}
	if r := f.lastReport(); r.Health != HealthWarning {
		t.Fatalf("reported %+v", r)
	}
	put(t, f.st, "app/missing", "here")
	f.waitContent("here")

	g := newFixture(t)
	g.write("old")
	g.run(Spec{Template: `{{keyOrDefault "app/missing" "default"}} {{keyExists "app/missing"}}`})
	g.waitContent("default false")
}

// A value that breaks its schema is not rendered: its last good value
// is, and the block warns.
func TestSchemaViolationRendersLastGood(t *testing.T) {
	f := newFixture(t)
	guard := schema.NewGuard(f.st, nil)
	keeper := schema.NewKeeper(f.st, guard, nil, nil)
	if err := keeper.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keeper.Close() })
	put(t, f.st, "_schema/app/", `{"type":"int","max":10}`)
	put(t, f.st, "app/n", "3")
	poll(t, "the keeper keeps 3", func() bool { return len(keeper.Bad()) == 0 && lastGoodHeld(f, "app/n") })
	cfg := f.config(Spec{Template: `n={{key "app/n"}}`})
	cfg.Vet = guard
	f.start(cfg)
	f.waitContent("n=3")
	put(t, f.st, "app/n", "30") // written past the check, as a replica may receive it
	poll(t, "the block warns", func() bool { return f.status().Health == HealthWarning })
	if got := f.read(); got != "n=3" {
		t.Fatalf("destination %q, want the last good value", got)
	}
	if s := f.status(); !contains(s.Output, "app/n") || len(s.LastGood) != 1 {
		t.Fatalf("status %+v", s)
	}
	put(t, f.st, "app/n", "7")
	f.waitContent("n=7")
	poll(t, "the block passes", func() bool { return f.status().Health == HealthPassing })
}

func lastGoodHeld(f *fixture, key string) bool {
	_, ok, err := f.st.Local(schema.Bucket).Get(key)
	return ok && err == nil
}

// unsyncedFixture runs a block over "old" on a node that has not synced
// until the flag it returns is set.
func unsyncedFixture(t *testing.T) (*fixture, *atomic.Bool) {
	f := newFixture(t)
	f.write("old")
	put(t, f.st, "app/v", "1")
	synced := new(atomic.Bool)
	cfg := f.config(Spec{Template: `v={{key "app/v"}}`})
	cfg.Synced = synced.Load
	f.start(cfg)
	return f, synced
}

// A node that never synced leaves the destination alone until it does.
func TestWaitsForFirstSync(t *testing.T) {
	f, synced := unsyncedFixture(t)
	poll(t, "the block waits for the first sync", func() bool {
		return slices.Equal(f.status().WaitingFor, []string{waitingForSync})
	})
	if f.read() != "old" || f.status().Renders != 0 {
		t.Fatal("rendered before the first sync")
	}
	synced.Store(true)
	f.clock.Advance(syncPoll)
	f.waitContent("v=1")

	g := newFixture(t)
	put(t, g.st, "app/v", "1")
	cfg := g.config(Spec{Template: `v={{key "app/v"}}`})
	cfg.Synced, cfg.RenderBeforeSync = func() bool { return false }, true
	g.start(cfg)
	g.waitContent("v=1")
}

// service lists passing instances by default, sorted by node then ID;
// "|any" lists them all; health changes render again.
func TestServiceFunction(t *testing.T) {
	f := newFixture(t)
	register(t, f.st, "n2", catalog.Instance{ID: "web-b", Name: "web", Address: "10.0.0.2", Port: 80, Tags: []string{"prod"}})
	register(t, f.st, "n1", catalog.Instance{ID: "web-z", Name: "web", Address: "10.0.0.1", Port: 81, Tags: []string{"prod"}})
	register(t, f.st, "n1", catalog.Instance{ID: "web-a", Name: "web", Address: "10.0.0.1", Port: 80},
		catalog.Check{ID: "web-a-alive", Name: "alive", ServiceID: "web-a", Status: catalog.StatusCritical})
	f.run(Spec{Template: `{{range service "web"}}{{.Node}}/{{.ID}}={{.Address}}:{{.Port}} {{end}}|` +
		`{{range service "prod.web~_agent|any"}}{{.ID}} {{end}}|{{range service "web|critical"}}{{.ID}}:{{.Status}}{{end}}|` +
		`{{range services}}{{.Name}}{{.Tags}}{{end}}`})
	f.waitContent("n1/web-z=10.0.0.1:81 n2/web-b=10.0.0.2:80 |web-z web-b |web-a:critical|web[prod]")
	register(t, f.st, "n1", catalog.Instance{ID: "web-a", Name: "web", Address: "10.0.0.1", Port: 80},
		catalog.Check{ID: "web-a-alive", Name: "alive", ServiceID: "web-a", Status: catalog.StatusPassing})
	f.waitContent("n1/web-a=10.0.0.1:80 n1/web-z=10.0.0.1:81 n2/web-b=10.0.0.2:80 |web-z web-b ||web[prod]")
}

// A symbolic link at the destination is kept: its target is written.
func TestSymlinkDestinationKept(t *testing.T) {
	f := newFixture(t)
	real := filepath.Join(f.dir, "real.conf")
	if err := os.WriteFile(real, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.conf", f.dest); err != nil {
		t.Fatal(err)
	}
	f.run(Spec{Template: `new`, Backup: true})
	poll(t, "the target is written", func() bool { b, _ := os.ReadFile(real); return string(b) == "new" })
	if fi, err := os.Lstat(f.dest); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link is gone: %v", err)
	}
	if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want the previous file's", fi.Mode())
	}
	if b, _ := os.ReadFile(real + ".bak"); string(b) != "old" {
		t.Fatalf("backup %q", b)
	}
}

// A template that does not parse fails validation with its file and line.
func TestBadTemplateNamesFileAndLine(t *testing.T) {
	src := filepath.Join(t.TempDir(), "app.tmpl")
	if err := os.WriteFile(src, []byte("a\nb\n{{ key \"x\" \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := Spec{Source: src, Destination: "/etc/app.conf"}
	err := s.Validate()
	if err == nil || !errors.Is(err, ErrTemplate) || !contains(err.Error(), src+":3") {
		t.Fatalf("error %v, want one naming %s:3", err, src)
	}
	s = Spec{Template: "{{ nosuchfunc }}", Destination: "/etc/app.conf"}
	if err := s.Validate(); err == nil || !contains(err.Error(), "nosuchfunc") {
		t.Fatalf("error %v", err)
	}
}

// Spec.Validate names the field at fault.
func TestSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		spec  Spec
		field string
	}{
		{Spec{Destination: "/a"}, "source"},
		{Spec{Template: "x", Source: "/t", Destination: "/a"}, "template"},
		{Spec{Template: "x", Destination: "rel"}, "destination"},
		{Spec{Template: "x", Destination: "/a", CheckMode: "swapped"}, "check_mode"},
		{Spec{Template: "x", Destination: "/a", CheckMode: "later"}, "check_mode"},
		{Spec{Template: "x", Destination: "/a", WaitMin: 3 * time.Second, WaitMax: time.Second}, "wait"},
		{Spec{Template: "x", Destination: "/a", Perms: os.ModeSetuid}, "perms"},
	} {
		var fe *FieldError
		if err := tc.spec.Validate(); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: error %v, want one blaming %s", tc.spec, err, tc.field)
		}
	}
}

// After start, a block that reads the catalog waits for membership to
// settle, at most SettleTimeout; one that does not renders at once.
func TestServiceBlocksWaitForMembership(t *testing.T) {
	f := newFixture(t)
	register(t, f.st, "n1", catalog.Instance{ID: "web1", Name: "web", Port: 80})
	f.write("old")
	cfg := f.config(Spec{Template: `{{range service "web"}}{{.ID}}{{end}}`})
	cfg.MembersSettled = func() bool { return false }
	f.start(cfg)
	poll(t, "the block waits for membership", func() bool {
		return slices.Equal(f.status().WaitingFor, []string{waitingForMembers})
	})
	if f.read() != "old" {
		t.Fatal("rendered before membership settled")
	}
	for range int(SettleTimeout / syncPoll) {
		f.clock.Advance(syncPoll)
	}
	f.waitContent("web1")

	g := newFixture(t)
	cfg = g.config(Spec{Template: `{{keyOrDefault "k" "kv only"}}`})
	cfg.MembersSettled = func() bool { return false }
	g.start(cfg)
	g.waitContent("kv only")
}

// Once renders every block now; before the first sync it writes nothing,
// and dry never writes.
func TestOnce(t *testing.T) {
	f, synced := unsyncedFixture(t)
	m := f.m
	out := m.Once(t.Context(), true)
	if len(out) != 1 || string(out[0].Content) != "v=1" || out[0].Checksum != checksum([]byte("v=1")) {
		t.Fatalf("dry %+v", out)
	}
	m.Once(t.Context(), false)
	if f.read() != "old" {
		t.Fatal("Once wrote before the first sync")
	}
	synced.Store(true)
	if out := m.Once(t.Context(), false); out[0].Health != HealthPassing || f.read() != "v=1" {
		t.Fatalf("once %+v, file %q", out, f.read())
	}
}

// Set applies reloaded blocks: an unchanged block goes on (no render),
// a changed one renders its new template, a new one starts, a removed
// one stops and no longer renders; invalid specs change nothing.
func TestSetReloadsBlocks(t *testing.T) {
	f := newFixture(t)
	put(t, f.st, "app/v", "1")
	other := filepath.Join(f.dir, "other.conf")
	third := filepath.Join(f.dir, "third.conf")
	keep := Spec{Name: "keep", Destination: other, Template: `o={{key "app/v"}}`}
	cfg := f.config(Spec{Name: "main", Template: `v={{key "app/v"}}`})
	cfg.Specs = append(cfg.Specs, keep)
	m := f.start(cfg)
	f.waitContent("v=1")
	poll(t, "keep renders", func() bool { return m.Status()[1].Renders == 1 })

	if _, err := m.Set([]Spec{{Name: "main", Destination: f.dest, Template: `{{`}}); err == nil {
		t.Fatal("Set took a template that does not parse")
	}
	removed, err := m.Set([]Spec{{Name: "main", Destination: f.dest, Template: `w={{key "app/v"}}`}, keep,
		{Name: "third", Destination: third, Template: `t={{key "app/v"}}`}})
	if err != nil || len(removed) != 0 {
		t.Fatalf("Set: %v, removed %v", err, removed)
	}
	f.waitContent("w=1")
	poll(t, "third renders", func() bool {
		b, err := os.ReadFile(third)
		return err == nil && string(b) == "t=1"
	})
	if st := m.Status(); len(st) != 3 || st[1].Name != "keep" || st[1].Renders != 1 {
		t.Fatalf("statuses after Set %+v", st)
	}

	removed, err = m.Set([]Spec{keep})
	if err != nil || !slices.Equal(removed, []string{"main", "third"}) {
		t.Fatalf("Set: %v, removed %v", err, removed)
	}
	put(t, f.st, "app/v", "2")
	poll(t, "keep renders the change", func() bool {
		b, err := os.ReadFile(other)
		return err == nil && string(b) == "o=2"
	})
	f.caughtUp()
	if st := m.Status(); len(st) != 1 || st[0].Name != "keep" {
		t.Fatalf("statuses after removal %+v", st)
	}
	if f.read() != "w=1" {
		t.Fatalf("a removed block rendered: %q", f.read())
	}
}
