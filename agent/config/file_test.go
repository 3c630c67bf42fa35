package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		key     string // "" for problems not about one key
		at      string // position after the file name, e.g. ":3:1:"
		kind    error
		detail  string // further text the message must contain
	}{
		{"unknown key with hint", "node_name: a\n\ngosip_port: 1\n", "gosip_port", ":3:1:", ErrUnknownKey, `did you mean "gossip_port"?`},
		{"unknown key in other case", "Gossip-Port: 1\n", "Gossip-Port", ":1:1:", ErrUnknownKey, `did you mean "gossip_port"?`},
		{"flag name as key", "site: a\nnode: x\n", "node", ":2:1:", ErrUnknownKey, `did you mean "node_name"?`},
		{"env name as key", "EDGEPLANE_SITE: x\n", "EDGEPLANE_SITE", ":1:1:", ErrUnknownKey, `did you mean "site"?`},
		{"unknown key without hint", "colour: blue\n", "colour", ":1:1:", ErrUnknownKey, "unknown key"},
		{"bad duration", "tombstone_ttl: 3 days\n", "tombstone_ttl", ":1:16:", ErrType, `"3 days"`},
		{"duration without unit", "tombstone_ttl: 3600\n", "tombstone_ttl", ":1:16:", ErrType, "duration"},
		{"port not a number", "gossip_port: abc\n", "gossip_port", ":1:14:", ErrType, "expected an integer"},
		{"port quoted", "gossip_port: \"7946\"\n", "gossip_port", ":1:14:", ErrType, "expected an integer"},
		{"port fraction", "gossip_port: 7946.5\n", "gossip_port", ":1:14:", ErrType, "expected an integer"},
		{"port list", "rpc_port:\n  - 1\n", "rpc_port", ":2:3:", ErrType, "got a list"},
		{"bool yes", "log_json: yes\n", "log_json", ":1:11:", ErrType, "true or false"},
		{"list as scalar", "retry_join: 10.0.0.1\n", "retry_join", ":1:13:", ErrType, "expected a list"},
		{"list item mapping", "retry_join:\n  - a\n  - {b: c}\n", "retry_join", ":2:3:", ErrType, "item 2"},
		{"string as list", "site: [a]\n", "site", ":1:7:", ErrType, "expected a string"},
		{"null string", "site:\n", "site", ":1:6:", ErrType, "null"},
		{"duplicate key", "site: a\nlog_level: info\nsite: b\n", "site", ":3:1:", ErrDuplicateKey, "first set on line 1"},
		{"top level list", "- a\n- b\n", "", ":1:1:", ErrSyntax, "mapping"},
		{"top level scalar", "hello\n", "", ":1:1:", ErrSyntax, "mapping"},
		{"malformed", "site: a\ngossip_port: [1, 2\n", "", ":", ErrSyntax, ""},
		{"bad indentation", "site: a\n  b: c\n", "", ":2:", ErrSyntax, ""},
		{"two documents", "site: a\n---\nsite: b\n", "", ":2:", ErrSyntax, "more than one YAML document"},
		{"key not a string", "? [a]\n: b\n", "", ":1:3:", ErrSyntax, "key must be a string"},
		{"unknown anchor", "gossip_port: &p 8000\nsite: *p\nrpc_port: *q\n", "", ":", ErrSyntax, "unknown anchor"},
		{"validation names the file", "gossip_port: 70000\n", "gossip_port", ":1:14:", ErrInvalid, "out of range 0-65535"},
		{"validation of bad IP", "node_name: n\nbind_addr: 1.2.3\n", "bind_addr", ":2:12:", ErrInvalid, `"1.2.3" is not an IP address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "edgeplane.yaml", tt.content)
			_, err := LoadFiles([]string{path}, nil)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, path+tt.at) {
				t.Errorf("error does not contain %q:\n%s", path+tt.at, msg)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error is not %v:\n%s", tt.kind, msg)
			}
			if tt.key != "" {
				if asError(err, tt.key) == nil {
					t.Errorf("no *Error for key %q:\n%s", tt.key, msg)
				}
				if !strings.Contains(msg, `key "`+tt.key+`"`) {
					t.Errorf("error does not name key %q:\n%s", tt.key, msg)
				}
			}
			if !strings.Contains(msg, tt.detail) {
				t.Errorf("error does not contain %q:\n%s", tt.detail, msg)
			}
		})
	}
}

func TestLongValuesClipped(t *testing.T) {
	long := strings.Repeat("x", 1000) // YAML allows implicit keys up to 1024 characters
	path := writeFile(t, t.TempDir(), "long.yaml", long+": 1\nbind_addr: "+long+"\ngossip_port: "+long+"\n")
	_, err := LoadFiles([]string{path}, nil)
	if err == nil || strings.Contains(err.Error(), long[:200]) {
		t.Errorf("error repeats a long value in full or is missing: %.300v", err)
	}
	if asError(err, long) == nil {
		t.Errorf("Error.Key should keep the full key")
	}
}

func TestAliasesResolve(t *testing.T) {
	path := writeFile(t, t.TempDir(), "a.yaml",
		"gossip_port: &port 8000\nrpc_port: *port\nretry_join: &seeds [s1, s2]\n")
	c, err := LoadFiles([]string{path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.RPCPort != 8000 || strings.Join(c.RetryJoin, ",") != "s1,s2" {
		t.Errorf("RPCPort=%d RetryJoin=%q", c.RPCPort, c.RetryJoin)
	}
}

func TestSuggestKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"gosip_port", "gossip_port"},
		{"gossip-port", "gossip_port"},
		{"GOSSIP_PORT", "gossip_port"},
		{"tombstone_tl", "tombstone_ttl"},
		{"datacentre", "datacenter"},
		{"join", "retry_join"},
		{"bind", "bind_addr"},
		{"EDGEPLANE_RPC_PORT", "rpc_port"},
		{"colour", ""},
		{"xx", ""},
		{strings.Repeat("a", 100), ""},
	}
	for _, tt := range tests {
		if got := suggestKey(tt.in); got != tt.want {
			t.Errorf("suggestKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "ab", 2}, {"kitten", "sitting", 3},
		{"gosip_port", "gossip_port", 1}, {"rpc_prot", "rpc_port", 2},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzParseFile feeds arbitrary bytes to the file parser, with a block list
// registered. It must never panic, every error must be an *Error in one
// sentinel family, and only known keys (or paths inside a known block list)
// may be recorded as set.
func FuzzParseFile(f *testing.F) {
	seeds := []string{
		"",
		"node_name: a\ngossip_port: 7946\nretry_join: [a, 'b:1']\ntombstone_ttl: 72h\nlog_json: true\n",
		"gosip_port: 1\n",
		"site: a\nsite: b\n",
		"- a\n",
		"a: &x [*x]\n",
		"gossip_port: &p 1\nrpc_port: *p\n",
		"retry_join: &l [1, *l]\n",
		"? [a]\n: b\n",
		"site: a\n---\nsite: b\n",
		"tombstone_ttl: 3 days\n",
		"{gossip_port: 0x1F, rpc_port: 0o17, site: !!binary aGk=}\n",
		"<<: {site: a}\n",
		"\t\x00\xff",
		"services:\n  - name: web\n    port: 80\n    tags: [a]\n    meta: {k: v, 'a b': c}\n    checks: [{http: x, interval: 10s}]\n",
		"services: [{name: a, checks: [{intervl: 1s}]}, {prot: 1}]\n",
		"services: &s [{checks: *s}]\n",
		"services: [{proxy: {upstreams: {db: {port: -1}}}, priority: 300, weight: .nan}]\n",
		"site: &t [x, x]\nservices: [{tags: *t}, {tags: *t, meta: {a: 1, a: 2}}]\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	kinds := []error{ErrSyntax, ErrUnknownKey, ErrDuplicateKey, ErrType}
	registerServices(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Default()
		from := make(origins)
		errs := parseFile(&c, from, "fuzz.yaml", data)
		for _, err := range errs {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			if !strings.HasPrefix(e.Source, "fuzz.yaml") {
				t.Fatalf("error %v has source %q", err, e.Source)
			}
			matched := 0
			for _, k := range kinds {
				if errors.Is(err, k) {
					matched++
				}
			}
			if matched != 1 {
				t.Fatalf("error %v matches %d sentinels, want 1", err, matched)
			}
		}
		for key, source := range from {
			if i := strings.IndexByte(key, '['); i > 0 {
				key = key[:i] // a path inside a block list
			}
			if optionsByKey[key] == nil {
				t.Fatalf("unknown key %q recorded as set", key)
			}
			if !strings.HasPrefix(source, "fuzz.yaml:") {
				t.Fatalf("key %q has source %q", key, source)
			}
		}
		_ = c.Validate() // must not panic on whatever the file produced
	})
}

func TestYAMLErrorLine(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "bad.yaml", "site: a\nnode_name: b\ngossip_port: [1\n")
	_, err := LoadFiles([]string{path}, nil)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
	if filepath.Base(e.Source) == "bad.yaml" || strings.HasPrefix(e.Err.Error(), "yaml:") {
		t.Errorf("syntax error without a line or with the yaml: prefix: %v", err)
	}
}
