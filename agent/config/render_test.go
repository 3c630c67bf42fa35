package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/render"
)

// A render block becomes a render.Spec with consul-template's defaults.
func TestRender(t *testing.T) {
	dir := t.TempDir()
	tmpl := writeFile(t, dir, "upstreams.tmpl", "{{range service \"web\"}}server {{.Address}}:{{.Port}};\n{{end}}")
	file := writeFile(t, dir, "r.yaml", `
render_before_sync: true
render:
  - source: `+tmpl+`
    destination: /etc/nginx/conf.d/upstreams.conf
    perms: "0640"
    check: [nginx, -t]
    check_mode: swapped
    reload: [systemctl, reload, nginx]
  - name: app
    template: 'timeout={{keyOrDefault "app/timeout" "5s"}}'
    destination: /etc/app.conf
    wait: {min: 0s, max: 1s}
`)
	c := mustLoad(t, []string{"-config-file", file}, nil)
	if len(c.Render) != 2 || !c.RenderBeforeSync {
		t.Fatalf("render %+v, render_before_sync %v", c.Render, c.RenderBeforeSync)
	}
	s, err := c.Render[0].Spec()
	if err != nil {
		t.Fatal(err)
	}
	if s.Perms != 0o640 || s.WaitMin != render.DefaultWaitMin || s.WaitMax != render.DefaultWaitMax || s.CheckMode != render.CheckSwapped {
		t.Errorf("spec %+v", s)
	}
	if s, _ := c.Render[1].Spec(); s.WaitMin != 0 || s.WaitMax != time.Second {
		t.Errorf("wait %v %v", s.WaitMin, s.WaitMax)
	}
}

// A template that does not parse fails the load, naming the block's
// file:line and the template's file:line; so do bad fields.
func TestRenderRefused(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.tmpl", "line one\nline two\n{{ key \"x\" \n")
	tests := []struct{ name, yaml, key, want string }{
		{"bad template file", "render:\n  - {source: " + bad + ", destination: /etc/a}\n", "render[0].source", bad + ":3"},
		{"bad inline template", "render:\n  - {template: '{{ nosuch }}', destination: /etc/a}\n", "render[0].template", "nosuch"},
		{"no destination", "render:\n  - {template: x}\n", "render[0].destination", "required"},
		{"bad perms", "render:\n  - {template: x, destination: /etc/a, perms: rwx}\n", "render[0].perms", "octal"},
		{"bad mode", "render:\n  - {template: x, destination: /etc/a, check_mode: later}\n", "render[0].check_mode", "candidate or swapped"},
		{"two of one destination", "render:\n  - {template: x, destination: /etc/a, name: a}\n  - {template: y, destination: /etc/a, name: b}\n", "render[1].destination", "also the destination"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, t.TempDir(), "r.yaml", tt.yaml)
			_, err := load(t, []string{"-config-file", file}, nil)
			e := asError(err, tt.key)
			if e == nil || !strings.Contains(e.Error(), tt.want) || !strings.Contains(e.Error(), filepath.Base(file)+":") {
				t.Fatalf("error %v, want one for key %s saying %q at r.yaml:line", err, tt.key, tt.want)
			}
		})
	}
}
