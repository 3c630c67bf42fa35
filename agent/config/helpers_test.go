package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// testNodeName is set by a first configuration file that load adds, so
// tests do not depend on the machine's host name; any later layer wins.
const testNodeName = "test-node"

// writeFile creates dir/name with content and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// lookup turns a map into an environment lookup function.
func lookup(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

// load parses args with a fresh Loader and loads with env. A first
// -config-file setting node_name to testNodeName precedes args.
func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("edgeplane", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := NewLoader(fs)
	base := writeFile(t, t.TempDir(), "node.yaml", "node_name: "+testNodeName+"\n")
	args = append([]string{"-config-file", base}, args...)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return l.Load(lookup(env))
}

// mustLoad is load that fails the test on error.
func mustLoad(t *testing.T, args []string, env map[string]string) Config {
	t.Helper()
	c, err := load(t, args, env)
	if err != nil {
		t.Fatalf("load %q: %v", args, err)
	}
	return c
}

// asError returns the first *Error in err's tree for key, or nil.
func asError(err error, key string) *Error {
	var found *Error
	var walk func(error)
	walk = func(err error) {
		if err == nil || found != nil {
			return
		}
		if e, ok := err.(*Error); ok && e.Key == key {
			found = e
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		walk(errors.Unwrap(err))
	}
	walk(err)
	return found
}
