package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/catalog"
)

// Service definitions of the files become the catalog's registrations,
// parsed by its own parser with the configuration as their source.
func TestServices(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "10-web.yaml", `
services:
  - name: web
    port: 8080
    tags: [v2]
    meta: {team: edge}
    tagged_addresses: {lan: {address: 10.0.0.5, port: 80}}
    weights: {passing: 3, warning: 1}
    check: {ttl: 30s, notes: app reports}
`)
	b := writeFile(t, dir, "20-db.yaml", `
services:
  - id: db-1
    name: db
    checks:
      - {id: db-alive, ttl: 1m, status: passing}
      - {ttl: 2m}
`)
	c := mustLoad(t, []string{"-config-file", a, "-config-file", b}, nil)
	regs, err := c.ServiceRegistrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(regs) != 2 {
		t.Fatalf("%d registrations", len(regs))
	}
	web, db := regs[0], regs[1]
	if web.Source != catalog.SourceConfig || web.Service.ID != "web" || web.Service.Port != 8080 ||
		web.Service.Weights != (catalog.Weights{Passing: 3, Warning: 1}) ||
		web.Service.TaggedAddresses["lan"] != (catalog.Address{Address: "10.0.0.5", Port: 80}) ||
		web.Service.Meta["team"] != "edge" || len(web.Checks) != 1 ||
		web.Checks[0].TTL != 30*time.Second || web.Checks[0].ID != "service:web" || web.Checks[0].Notes != "app reports" {
		t.Errorf("web = %+v", web)
	}
	if db.Service.ID != "db-1" || len(db.Checks) != 2 || db.Checks[0].ID != "db-alive" ||
		db.Checks[0].Status != catalog.StatusPassing || db.Checks[1].ID != "service:db-1:2" {
		t.Errorf("db = %+v", db)
	}
	if c.CatalogSyncInterval.Duration != time.Minute || c.EnableLocalScriptChecks {
		t.Errorf("defaults: catalog_sync_interval %v, enable_local_script_checks %v", c.CatalogSyncInterval, c.EnableLocalScriptChecks)
	}
}

// A definition the catalog refuses fails the load with its file, line and
// path; so do two definitions of one ID and a sync interval under 1s.
func TestServicesRefused(t *testing.T) {
	tests := []struct{ name, yaml, key, want string }{
		{"no name", "services:\n  - port: 80\n", "services[0]", "missing service Name"},
		{"unsupported kind of check", "services:\n  - name: w\n    check: {udp: 1}\n", "services[0].check.udp", "unknown key"},
		{"check without ttl", "services:\n  - name: w\n    check: {notes: x}\n", "services[0]", "no TTL"},
		{"bad port", "services:\n  - name: w\n    port: 70000\n", "services[0]", "Port"},
		{"duplicate", "services:\n  - name: w\n  - {name: x, id: w}\n", "services[1].id", "also the ID of services[0]"},
		{"sync interval", "catalog_sync_interval: 10ms\n", "catalog_sync_interval", "at least 1s"},
		{"script check without enable_local_script_checks", "services:\n  - name: w\n    checks:\n      - {ttl: 1m}\n      - {args: [/bin/true], interval: 10s}\n",
			"services[0].checks[1].args", "enable_local_script_checks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, t.TempDir(), "s.yaml", tt.yaml)
			_, err := load(t, []string{"-config-file", file}, nil)
			e := asError(err, tt.key)
			if e == nil || !strings.Contains(e.Error(), tt.want) || !strings.Contains(e.Error(), "s.yaml:") {
				t.Fatalf("error %v, want one for key %s saying %q at s.yaml:line", err, tt.key, tt.want)
			}
			if tt.key != "services[0].check.udp" && !errors.Is(err, ErrInvalid) {
				t.Errorf("%v is not ErrInvalid", err)
			}
		})
	}
}

// With enable_local_script_checks a configured script check is a
// registration the catalog runs.
func TestServicesScriptCheck(t *testing.T) {
	file := writeFile(t, t.TempDir(), "s.yaml", "enable_local_script_checks: true\nservices:\n  - name: w\n    check: {args: [/bin/true], interval: 10s}\n")
	c := mustLoad(t, []string{"-config-file", file}, nil)
	regs, err := c.ServiceRegistrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(regs) != 1 || len(regs[0].Checks) != 1 || regs[0].Checks[0].Type() != catalog.CheckTypeScript {
		t.Fatalf("registrations %+v, want one script check", regs)
	}
}
