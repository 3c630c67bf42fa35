package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/edgeplane/edgeplane"

// importRules are the directions dependencies must not take inside the
// module. A package matches a pattern when its path (relative to the
// module) is the pattern or lies under it.
var importRules = []struct {
	from, to []string
	allowed  []string // importers of to that are exempt
	why      string
}{
	{
		from: []string{"store", "gossip", "transport"},
		to:   []string{"agent"},
		why:  "the agent builds on store, gossip and transport, never the reverse",
	},
	{
		from: []string{"store"},
		to:   []string{"gossip", "transport"},
		why:  "the store knows nothing of the network",
	},
	{
		from: []string{"agent/replica"},
		to:   []string{"agent/httpapi"},
		why:  "replication serves the mesh, not the local HTTP API",
	},
	{
		from: []string{"agent/relay"},
		to:   []string{"agent/httpapi"},
		why:  "the metrics relay serves the mesh; the agent gives its errors the API's meaning",
	},
	{
		from:    []string{""},
		to:      []string{"agent/cli"},
		allowed: []string{"agent/cmd/edgeplane"},
		why:     "the CLI is a front end of the binary, used by its main package only",
	},
}

// TestImportDirections fails when a package of the module imports, directly
// or through other packages of the module, one that the rules above forbid
// it. The imports of a package's own tests count as its imports.
func TestImportDirections(t *testing.T) {
	pkgs := listPackages(t)
	names := slices.Sorted(maps.Keys(pkgs))
	for _, r := range importRules {
		// A rule naming no package (one was moved or renamed) checks
		// nothing: fail rather than pass for nothing.
		for _, dir := range slices.Concat(r.from, r.to) {
			if !slices.ContainsFunc(names, func(n string) bool { return underAny(n, []string{dir}) }) {
				t.Errorf("the rule %q names %s/%s, which holds no package", r.why, module, dir)
			}
		}
		for _, name := range names {
			if !underAny(name, r.from) || underAny(name, r.to) || slices.Contains(r.allowed, name) {
				continue
			}
			for _, path := range reaches(pkgs, name, func(dep string) bool { return underAny(dep, r.to) }) {
				t.Errorf("%s must not import %s (%s): %s",
					name, path[len(path)-1], strings.Join(path, " -> "), r.why)
			}
		}
	}
}

// TestEveryPackageChecksForLeaks fails when a package has tests but no
// goroutine-leak check (a TestMain calling goleak, see main_test.go).
func TestEveryPackageChecksForLeaks(t *testing.T) {
	for name, p := range listPackages(t) {
		tests := slices.Concat(p.TestImports, p.XTestImports)
		if len(tests) > 0 && !slices.Contains(tests, "go.uber.org/goleak") {
			t.Errorf("%s has tests but no goroutine-leak check: add a main_test.go whose TestMain calls goleak.VerifyTestMain", name)
		}
	}
}

// modulePackage is what go list reports of one package of the module.
type modulePackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// listPackages returns the module's packages by their path relative to
// the module.
func listPackages(t *testing.T) map[string]*modulePackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,XTestImports", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]*modulePackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p modulePackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list: %v", err)
		}
		name, ok := relative(p.ImportPath)
		if !ok || name == "" {
			t.Fatalf("go list returned %s, outside the module", p.ImportPath)
		}
		pkgs[name] = &p
	}
	return pkgs
}

// reaches returns, for each module package that bad accepts and that
// name reaches through its imports (its tests' included, not those of the
// packages it imports), one chain of imports leading to it.
func reaches(pkgs map[string]*modulePackage, name string, bad func(string) bool) [][]string {
	var found [][]string
	parent := map[string]string{name: ""}
	queue := []string{name}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		p := pkgs[cur]
		if p == nil {
			continue
		}
		imports := p.Imports
		if cur == name {
			imports = slices.Concat(p.Imports, p.TestImports, p.XTestImports)
		}
		for _, imp := range imports {
			dep, ok := relative(imp)
			if !ok || dep == name {
				continue
			}
			if _, seen := parent[dep]; seen {
				continue
			}
			parent[dep] = cur
			if bad(dep) {
				var path []string
				for n := dep; n != ""; n = parent[n] {
					path = append(path, n)
				}
				slices.Reverse(path)
				found = append(found, path)
				continue
			}
			queue = append(queue, dep)
		}
	}
	return found
}

// relative returns an import path relative to the module, and whether it
// lies in the module.
func relative(importPath string) (string, bool) {
	return strings.CutPrefix(importPath, module+"/")
}

// underAny reports whether name is one of dirs or lies under one ("" is
// the whole module).
func underAny(name string, dirs []string) bool {
	for _, d := range dirs {
		if d == "" || name == d || strings.HasPrefix(name, d+"/") {
			return true
		}
	}
	return false
}

// TestOneMetricsPackage fails when a package other than agent/telemetry
// imports a metrics library: the other parts of the agent keep typed
// counters, which telemetry reads at scrape time.
func TestOneMetricsPackage(t *testing.T) {
	libraries := []string{"github.com/VictoriaMetrics/", "github.com/prometheus/", "github.com/hashicorp/go-metrics", "github.com/armon/go-metrics"}
	for name, p := range listPackages(t) {
		if name == "agent/telemetry" {
			continue
		}
		for _, imp := range slices.Concat(p.Imports, p.TestImports, p.XTestImports) {
			for _, lib := range libraries {
				if strings.HasPrefix(imp, lib) {
					t.Errorf("%s imports %s: metrics are read by agent/telemetry only", name, imp)
				}
			}
		}
	}
}
