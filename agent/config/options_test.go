package config

import (
	"bytes"
	"flag"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestOptionTable checks that every Config field but Dev has exactly one
// option, and that names are unique and well formed in every source.
func TestOptionTable(t *testing.T) {
	var c Config
	// fields lists every option-bearing field, descending into sections
	// (struct fields other than Duration), by name and address.
	type field struct {
		name string
		ptr  uintptr
		typ  reflect.Type
	}
	var fields []field
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		for j := range v.NumField() {
			f, sf := v.Field(j), v.Type().Field(j)
			if sf.Type.Kind() == reflect.Struct && sf.Type != reflect.TypeOf(Duration{}) {
				walk(f, prefix+sf.Name+".")
				continue
			}
			fields = append(fields, field{prefix + sf.Name, f.Addr().Pointer(), sf.Type})
		}
	}
	walk(reflect.ValueOf(&c).Elem(), "")
	owner := make(map[string]string) // field name -> key
	for i := range options {
		o := &options[i]
		ptr := reflect.ValueOf(o.field(&c))
		found := false
		for _, f := range fields {
			if f.ptr == ptr.Pointer() && f.typ == ptr.Type().Elem() {
				if prev, dup := owner[f.name]; dup {
					t.Errorf("field %s bound by %q and %q", f.name, prev, o.key)
				}
				owner[f.name] = o.key
				found = true
			}
		}
		if !found {
			t.Errorf("option %q is not bound to a Config field", o.key)
		}
	}
	for _, f := range fields {
		if _, ok := owner[f.name]; !ok && f.name != "Dev" && f.name != "extra" {
			t.Errorf("Config.%s has no option in the table", f.name)
		}
	}

	keyRE := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*(\.[a-z][a-z0-9]*(_[a-z0-9]+)*)?$`)
	flagRE := regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	seen := make(map[string]string)
	for i := range options {
		o := &options[i]
		names := []string{"key " + o.key}
		if o.readBlocks != nil {
			// A block list is file-only.
			if !keyRE.MatchString(o.key) || o.flag != "" || o.env != "" || o.newFlag != nil || o.fromEnv != nil || o.fromYAML != nil {
				t.Errorf("block list %q: bad names or sources flag=%q env=%q", o.key, o.flag, o.env)
			}
		} else {
			if !keyRE.MatchString(o.key) || !flagRE.MatchString(o.flag) || o.env != "EDGEPLANE_"+strings.ToUpper(strings.ReplaceAll(o.key, ".", "_")) {
				t.Errorf("option %q: bad names key=%q flag=%q env=%q", o.key, o.key, o.flag, o.env)
			}
			names = append(names, "flag "+o.flag, "env "+o.env)
		}
		for _, name := range names {
			if prev, dup := seen[name]; dup {
				t.Errorf("%s used by %q and %q", name, prev, o.key)
			}
			seen[name] = o.key
		}
		if optionsByKey[o.key] != o {
			t.Errorf("optionsByKey[%q] does not point at the table row", o.key)
		}
	}
}

func TestFlagHelp(t *testing.T) {
	fs := flag.NewFlagSet("edgeplane", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	NewLoader(fs)
	fs.PrintDefaults()
	help := out.String()
	if strings.Contains(help, "panic") {
		t.Fatalf("help reports a panic:\n%s", help)
	}
	for _, want := range []string{
		"-gossip-port port", "(default 7946)", "env EDGEPLANE_GOSSIP_PORT", "key gossip_port",
		"-tombstone-ttl duration", "(default 72h0m0s)", "-join address", "-log-json\n",
		"-config-file file", "-config-dir directory", "-dev\n",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	for i := range options {
		if options[i].flag != "" && fs.Lookup(options[i].flag) == nil {
			t.Errorf("flag -%s not registered", options[i].flag)
		}
	}
}

func TestRepeatedJoinFlagStartsFresh(t *testing.T) {
	fs := flag.NewFlagSet("edgeplane", flag.ContinueOnError)
	l := NewLoader(fs)
	if err := fs.Parse([]string{"-join", "a", "-join", "b", "-node", "n"}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // loading twice must not share or grow the list
		c, err := l.Load(lookup(nil))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(c.RetryJoin, ",") != "a,b" {
			t.Fatalf("RetryJoin = %q", c.RetryJoin)
		}
		c.RetryJoin[0] = "changed"
	}
}
