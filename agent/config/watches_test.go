package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/watch"
)

// Watch definitions of every file are appended and become the watch
// package's specs; their tokens are hidden from /v1/agent/self.
func TestWatches(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "10-a.yaml", `
watches:
  - type: key
    key: app/config
    args: [/usr/local/bin/apply, --from-stdin]
    timeout: 5s
    token: s3cret
`)
	b := writeFile(t, dir, "20-b.yaml", `
watches:
  - type: service
    service: web
    tag: [v1]
    passingonly: true
    handler_type: script
    handler: "logger -t web"
    wait: {min: 2s, max: 10s}
  - {type: checks, state: critical, args: [/bin/alert], stale: true}
`)
	c := mustLoad(t, []string{"-config-file", a, "-config-file", b}, nil)
	if len(c.Watches) != 3 {
		t.Fatalf("%d watches", len(c.Watches))
	}
	want := []watch.Spec{
		{Type: "key", Key: "app/config", Args: []string{"/usr/local/bin/apply", "--from-stdin"}, Timeout: 5 * time.Second, Token: "s3cret"},
		{Type: "service", Service: "web", Tags: []string{"v1"}, PassingOnly: true, Shell: "logger -t web", WaitMin: 2 * time.Second, WaitMax: 10 * time.Second},
		{Type: "checks", State: "critical", Args: []string{"/bin/alert"}},
	}
	for i := range want {
		if got := c.Watches[i].Spec(); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("watches[%d] = %+v, want %+v", i, got, want[i])
		}
	}
	shown := Redacted(c)["watches"].([]WatchDef)
	if shown[0].Token != Hidden || c.Watches[0].Token != "s3cret" {
		t.Errorf("shown token %q", shown[0].Token)
	}
}

// A definition the watch package refuses fails the load with its file,
// line and field.
func TestWatchesRefused(t *testing.T) {
	tests := []struct{ name, yaml, key, want string }{
		{"no type", "watches:\n  - {key: a, args: [/bin/true]}\n", "watches[0].type", "missing"},
		{"unknown type", "watches:\n  - {type: event, args: [/bin/true]}\n", "watches[0].type", "one of key, keyprefix"},
		{"no key", "watches:\n  - {type: key, args: [/bin/true]}\n", "watches[0].key", "needs the key"},
		{"no handler", "watches:\n  - {type: services}\n", "watches[0].args", "handler is missing"},
		{"http handler", "watches:\n  - {type: services, handler_type: http, args: [/bin/true]}\n", "watches[0].handler_type", "not supported"},
		{"both states", "watches:\n  - {type: checks, service: web, state: passing, args: [/bin/true]}\n", "watches[0].state", "not both"},
		{"wait", "watches:\n  - {type: services, args: [/bin/true], wait: {min: 5s, max: 1s}}\n", "watches[0].wait.max", "less than wait.min"},
		{"typo", "watches:\n  - {type: services, args: [/bin/true], passing_only: true}\n", "watches[0].passing_only", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, t.TempDir(), "w.yaml", tt.yaml)
			_, err := load(t, []string{"-config-file", file}, nil)
			e := asError(err, tt.key)
			if e == nil || !strings.Contains(e.Error(), tt.want) || !strings.Contains(e.Error(), "w.yaml:") {
				t.Fatalf("error %v, want one for key %s saying %q at w.yaml:line", err, tt.key, tt.want)
			}
			if tt.name != "typo" && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
		})
	}
}
