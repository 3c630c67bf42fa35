package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// testService is a block type for the tests, shaped like a Consul service
// definition. No shipped option uses it: registerServices adds a
// "services" option to the table for the length of one test.
type testService struct {
	Name     string            `yaml:"name"`
	ID       string            `yaml:"id"`
	Tags     []string          `yaml:"tags"`
	Address  string            `yaml:"address"`
	Port     int               `yaml:"port"`
	Meta     map[string]string `yaml:"meta"`
	Weight   float64           `yaml:"weight"`
	Override bool              `yaml:"enable_tag_override"`
	Priority int8              `yaml:"priority"`
	Checks   []testCheck       `yaml:"checks"`
	Proxy    testProxy         `yaml:"proxy"`
	Internal string            `yaml:"-"`
}

type testCheck struct {
	Name     string              `yaml:"name"`
	HTTP     string              `yaml:"http"`
	TCP      string              `yaml:"tcp"`
	TTL      Duration            `yaml:"ttl"`
	Args     []string            `yaml:"args"`
	Interval Duration            `yaml:"interval"`
	Timeout  Duration            `yaml:"timeout,omitempty"`
	Header   map[string][]string `yaml:"header"`
}

type testProxy struct {
	Upstreams map[string]testUpstream `yaml:"upstreams"`
}

type testUpstream struct {
	Port uint16 `yaml:"port"`
}

// Validate blames fields with *FieldError, several at once.
func (s *testService) Validate() error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, &FieldError{Field: "name", Err: invalidf("must be set")})
	}
	if s.Port < 0 || s.Port > 65535 {
		errs = append(errs, &FieldError{Field: "port", Err: invalidf("%d out of range 0-65535", s.Port)})
	}
	return errors.Join(errs...)
}

// Validate has a value receiver and returns a plain error for the whole
// check, which the loader files under ErrInvalid.
func (c testCheck) Validate() error {
	kinds := 0
	for _, set := range []bool{c.HTTP != "", c.TCP != "", c.TTL.Duration != 0, len(c.Args) > 0} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return errors.New("set exactly one of http, tcp, ttl and args")
	}
	if c.Interval.Duration != 0 && c.Timeout.Duration > c.Interval.Duration {
		return &FieldError{Field: "timeout", Err: fmt.Errorf("%v is longer than the interval %v", c.Timeout, c.Interval)}
	}
	return nil
}

func (u testUpstream) Validate() error {
	if u.Port == 0 {
		return &FieldError{Field: "port", Err: invalidf("must be set")}
	}
	return nil
}

// uniqueServiceIDs is the list rule: no two services share an id (the name
// when id is empty).
func uniqueServiceIDs(list []testService) error {
	first := make(map[string]int)
	var errs []error
	for i, s := range list {
		id := cmpOr(s.ID, s.Name)
		if j, dup := first[id]; dup {
			errs = append(errs, &FieldError{Field: fmt.Sprintf("[%d].id", i), Err: invalidf("%q is also the id of services[%d]", id, j)})
			continue
		}
		first[id] = i
	}
	return errors.Join(errs...)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// registerOption adds o to the option table until the test ends.
func registerOption(tb testing.TB, o option) {
	tb.Helper()
	saved, savedByKey := options, optionsByKey
	options = append(slices.Clip(options), o)
	optionsByKey = indexOptions(options)
	tb.Cleanup(func() { options, optionsByKey = saved, savedByKey })
}

// registerServices registers the file-only block list "services" of
// testService, stored in Config.extra.
func registerServices(tb testing.TB) {
	registerOption(tb, blockOption("services", "test service definitions",
		services,
		func(c *Config, v []testService) {
			m := maps.Clone(c.extra)
			if m == nil {
				m = make(map[string]any)
			}
			m["services"] = v
			c.extra = m
		},
		uniqueServiceIDs))
}

func services(c *Config) []testService {
	v, _ := c.extra["services"].([]testService)
	return v
}

func TestBlocksDecode(t *testing.T) {
	registerServices(t)
	tests := []struct {
		name, yaml string
		want       []testService
	}{
		{"absent", "site: a\n", nil},
		{"empty list", "services: []\n", nil},
		{"every kind of field", `
services:
  - name: web
    id: web-1
    tags: [primary, v2]
    address: 10.0.0.5
    port: 8080
    meta: {version: "1.2", "team.name": edge}
    weight: 0.5
    enable_tag_override: true
    priority: -3
    checks:
      - http: http://127.0.0.1:8080/health
        interval: 10s
        timeout: 2s
        header: {Accept: [text/plain]}
      - args: [/bin/check, --fast]
        interval: 1m
    proxy:
      upstreams:
        db: {port: 5432}
  - name: db
    weight: 2
    checks:
      - ttl: 30s
`, []testService{
			{
				Name: "web", ID: "web-1", Tags: []string{"primary", "v2"}, Address: "10.0.0.5", Port: 8080,
				Meta:   map[string]string{"version": "1.2", "team.name": "edge"},
				Weight: 0.5, Override: true, Priority: -3,
				Checks: []testCheck{
					{HTTP: "http://127.0.0.1:8080/health", Interval: Duration{10 * time.Second}, Timeout: Duration{2 * time.Second},
						Header: map[string][]string{"Accept": {"text/plain"}}},
					{Args: []string{"/bin/check", "--fast"}, Interval: Duration{time.Minute}},
				},
				Proxy: testProxy{Upstreams: map[string]testUpstream{"db": {Port: 5432}}},
			},
			{Name: "db", Weight: 2, Checks: []testCheck{{TTL: Duration{30 * time.Second}}}},
		}},
		{"empty nested lists and maps are absent", "services:\n  - name: a\n    tags: []\n    meta: {}\n    checks: []\n",
			[]testService{{Name: "a"}}},
		{"aliases", "services:\n  - name: a\n    checks: &c [{tcp: 'localhost:1'}]\n  - name: b\n    checks: *c\n",
			[]testService{
				{Name: "a", Checks: []testCheck{{TCP: "localhost:1"}}},
				{Name: "b", Checks: []testCheck{{TCP: "localhost:1"}}},
			}},
		{"any scalar is a string", "services:\n  - name: 1234\n    tags: [true, 1.5]\n",
			[]testService{{Name: "1234", Tags: []string{"true", "1.5"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "svc.yaml", tt.yaml)
			c, err := LoadFiles([]string{path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := services(&c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("services =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestBlocksFileErrors(t *testing.T) {
	registerServices(t)
	tests := []struct {
		name    string
		content string
		key     string // the path the error names
		at      string // position after the file name
		kind    error
		detail  string
	}{
		{"unknown nested field with hint",
			"services:\n  - name: a\n  - name: b\n    checks:\n      - http: http://x\n        intervl: 10s\n",
			"services[1].checks[0].intervl", ":6:9:", ErrUnknownKey, `did you mean "interval"?`},
		{"unknown field in other case", "services:\n  - Name: a\n", "services[0].Name", ":2:5:", ErrUnknownKey, `did you mean "name"?`},
		{"unknown field without hint", "services:\n  - colour: blue\n", "services[0].colour", ":2:5:", ErrUnknownKey, "takes name, id, tags"},
		{"unknown field in a map's block", "services:\n  - proxy: {upstreams: {db: {prot: 1}}}\n",
			"services[0].proxy.upstreams.db.prot", ":2:30:", ErrUnknownKey, `did you mean "port"?`},
		{"ignored field is unknown", "services:\n  - Internal: x\n", "services[0].Internal", ":2:5:", ErrUnknownKey, "unknown key"},
		{"port quoted", "services:\n  - name: a\n    port: \"80\"\n", "services[0].port", ":3:11:", ErrType, `expected an integer, got string "80"`},
		{"port null", "services:\n  - name: a\n    port:\n", "services[0].port", ":3:10:", ErrType, "null"},
		{"integer too big", "services:\n  - priority: 300\n", "services[0].priority", ":2:15:", ErrType, "does not fit in int8"},
		{"negative unsigned", "services:\n  - proxy: {upstreams: {db: {port: -1}}}\n", "services[0].proxy.upstreams.db.port", ":2:36:", ErrType, "at least 0"},
		{"weight not a number", "services:\n  - weight: heavy\n", "services[0].weight", ":2:13:", ErrType, "expected a number"},
		{"bool yes", "services:\n  - enable_tag_override: yes\n", "services[0].enable_tag_override", ":2:26:", ErrType, "true or false"},
		{"tags scalar", "services:\n  - tags: web\n", "services[0].tags", ":2:11:", ErrType, "expected a list"},
		{"tag item mapping", "services:\n  - tags: [a, {b: c}]\n", "services[0].tags[1]", ":2:15:", ErrType, "expected a string"},
		{"meta value list", "services:\n  - meta: {v: [1]}\n", "services[0].meta.v", ":2:15:", ErrType, "expected a string"},
		{"meta odd key", "services:\n  - meta: {\"a b\": [1]}\n", "services[0].meta['a b']", ":2:19:", ErrType, "expected a string"},
		{"bad duration", "services:\n  - checks: [{ttl: 10}]\n", "services[0].checks[0].ttl", ":2:20:", ErrType, "duration"},
		{"block not a mapping", "services: [web]\n", "services[0]", ":1:12:", ErrType, "expected a mapping of name, id"},
		{"list not a list", "services: {name: a}\n", "services", ":1:11:", ErrType, "expected a list of blocks"},
		{"list null", "services:\n", "services", ":1:10:", ErrType, "null"},
		{"duplicate field", "services:\n  - name: a\n    name: b\n", "services[0].name", ":3:5:", ErrDuplicateKey, "first set on line 2"},
		{"duplicate map key", "services:\n  - meta: {a: x, a: y}\n", "services[0].meta.a", ":2:18:", ErrDuplicateKey, "first set on line 2"},
		{"key not a string", "services:\n  - ? [a]\n    : b\n", "services[0]", ":2:7:", ErrSyntax, "key must be a string"},

		{"Validate blames a field", "services:\n  - name: a\n    port: 70000\n", "services[0].port", ":3:11:", ErrInvalid, "70000 out of range"},
		{"Validate blames a missing field at its block", "services:\n  - port: 80\n", "services[0].name", ":2:5:", ErrInvalid, "must be set"},
		{"nested Validate with a plain error", "services:\n  - name: a\n    checks:\n      - name: c\n", "services[0].checks[0]", ":4:9:", ErrInvalid, "exactly one of"},
		{"nested Validate blames a field", "services:\n  - name: a\n    checks: [{http: x, interval: 1s, timeout: 2s}]\n",
			"services[0].checks[0].timeout", ":3:47:", ErrInvalid, "longer than the interval"},
		{"Validate in a map's block", "services:\n  - name: a\n    proxy: {upstreams: {db: {}}}\n", "services[0].proxy.upstreams.db.port", ":3:29:", ErrInvalid, "must be set"},
		{"list rule", "services:\n  - name: a\n  - name: b\n  - name: c\n    id: a\n", "services[2].id", ":5:9:", ErrInvalid, "also the id of services[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "svc.yaml", tt.content)
			_, err := LoadFiles([]string{path}, nil)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			e := asError(err, tt.key)
			if e == nil {
				t.Fatalf("no *Error for key %q:\n%s", tt.key, msg)
			}
			if want := path + tt.at; !strings.HasPrefix(e.Error(), want) {
				t.Errorf("error does not start with %q:\n%s", want, e)
			}
			if !strings.Contains(e.Error(), `key "`+tt.key+`": `) {
				t.Errorf("error does not name key %q:\n%s", tt.key, e)
			}
			if !errors.Is(e, tt.kind) {
				t.Errorf("error is not %v:\n%s", tt.kind, e)
			}
			if !strings.Contains(e.Error(), tt.detail) {
				t.Errorf("error does not contain %q:\n%s", tt.detail, e)
			}
		})
	}
}

func TestBlocksAllProblemsReported(t *testing.T) {
	registerServices(t)
	path := writeFile(t, t.TempDir(), "svc.yaml", "services:\n  - nme: a\n    port: x\n  - checks: [{intervl: 1s}]\ngosip_port: 1\n")
	_, err := LoadFiles([]string{path}, nil)
	for _, key := range []string{"services[0].nme", "services[0].port", "services[1].checks[0].intervl", "gosip_port"} {
		if asError(err, key) == nil {
			t.Errorf("no error for %q in:\n%v", key, err)
		}
	}
}

func TestBlocksAliasExpansionBounded(t *testing.T) {
	registerServices(t)
	// 40 tags, 60 checks of them each, 60 services of those checks:
	// 144,000 strings from a file of a few kilobytes.
	var b strings.Builder
	b.WriteString("site: &t [" + strings.TrimSuffix(strings.Repeat("x,", 40), ",") + "]\n")
	b.WriteString("datacenter: &c [" + strings.TrimSuffix(strings.Repeat("{args: *t},", 60), ",") + "]\n")
	b.WriteString("services: [" + strings.TrimSuffix(strings.Repeat("{checks: *c},", 60), ",") + "]\n")
	path := writeFile(t, t.TempDir(), "bomb.yaml", b.String())
	_, err := LoadFiles([]string{path}, nil)
	if !errors.Is(err, ErrSyntax) || !strings.Contains(fmt.Sprint(err), "more than") {
		t.Fatalf("err = %.500v", err)
	}
	if n := strings.Count(err.Error(), "more than"); n != 1 {
		t.Errorf("the limit is reported %d times, want once", n)
	}
}

// TestBlocksAcrossFiles shows the merge rule: block lists are appended
// across files in reading order, while a plain list is replaced.
func TestBlocksAcrossFiles(t *testing.T) {
	registerServices(t)
	dir := t.TempDir()
	web := writeFile(t, dir, "web.yaml", "services:\n  - name: web\n    port: 80\nretry_join: [a]\n")
	db := writeFile(t, dir, "db.yaml", "services:\n  - name: db\n    port: 5432\nretry_join: [b]\n")
	none := writeFile(t, dir, "none.yaml", "services: []\n")
	conf := filepath.Join(dir, "conf.d")
	writeFile(t, conf, "20-db.yaml", "services: [{name: db}]\n")
	writeFile(t, conf, "10-web.yaml", "services: [{name: web}, {name: api}]\n")
	writeFile(t, conf, "05-cache.yml", "services: [{name: cache}]\nretry_join: [c]\n")
	writeFile(t, conf, "30-other.yaml", "log_level: debug\n")
	writeFile(t, conf, "notes.txt", "services: [{name: ignored}]\n")
	dup := writeFile(t, dir, "dup.yaml", "services:\n  - name: web\n")
	bad := writeFile(t, dir, "bad.yaml", "services:\n  - name: x\n    port: 70000\n")

	tests := []struct {
		name      string
		files     []string
		dirs      []string
		wantNames []string
		wantJoin  []string
		errKey    string // the key of the expected error, if any
		errAt     string // its position
	}{
		{"one file", []string{web}, nil, []string{"web"}, []string{"a"}, "", ""},
		{"two files append", []string{web, db}, nil, []string{"web", "db"}, []string{"b"}, "", ""},
		{"order of files", []string{db, web}, nil, []string{"db", "web"}, []string{"a"}, "", ""},
		{"an empty list adds nothing", []string{web, none}, nil, []string{"web"}, []string{"a"}, "", ""},
		{"config dir in lexical order", nil, []string{conf}, []string{"cache", "web", "api", "db"}, []string{"c"}, "", ""},
		{"files before dirs", []string{db}, []string{conf}, []string{"db", "cache", "web", "api", "db"}, []string{"c"},
			"services[4].id", filepath.Join(conf, "20-db.yaml") + ":1:12:"},
		{"duplicate across files", []string{db, web, dup}, nil, nil, nil, "services[2].id", dup + ":2:5:"},
		{"index counts earlier files", []string{web, db, bad}, nil, nil, nil, "services[2].port", bad + ":3:11:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadFiles(tt.files, tt.dirs)
			if tt.errKey != "" {
				e := asError(err, tt.errKey)
				if e == nil || e.Source+":" != tt.errAt {
					t.Fatalf("want an error for %s at %s, got:\n%v", tt.errKey, tt.errAt, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range services(&c) {
				names = append(names, s.Name)
			}
			if !slices.Equal(names, tt.wantNames) {
				t.Errorf("services = %q, want %q", names, tt.wantNames)
			}
			if !slices.Equal(c.RetryJoin, tt.wantJoin) {
				t.Errorf("retry_join = %q, want %q (replaced, not appended)", c.RetryJoin, tt.wantJoin)
			}
		})
	}
}

// TestBlocksFileOnly checks that a block list has neither a flag nor an
// environment variable, and that the Loader reads it from files.
func TestBlocksFileOnly(t *testing.T) {
	registerServices(t)
	file := writeFile(t, t.TempDir(), "svc.yaml", "services: [{name: web}]\n")
	c := mustLoad(t, []string{"-config-file", file}, map[string]string{"EDGEPLANE_SERVICES": `[{"name": "env"}]`})
	if got := services(&c); len(got) != 1 || got[0].Name != "web" {
		t.Errorf("services = %+v, want web from the file alone", got)
	}

	fs := flag.NewFlagSet("edgeplane", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	NewLoader(fs)
	if err := fs.Parse([]string{"-services", "x"}); err == nil {
		t.Error("-services is accepted as a flag")
	}
	if s := suggestKey(""); s != "" {
		t.Errorf("the empty key suggests %q", s)
	}
	if s := suggestKey("service"); s != "services" {
		t.Errorf("suggestKey(service) = %q", s)
	}
}

func TestBlocksChanged(t *testing.T) {
	registerServices(t)
	base := []testService{{Name: "web", Port: 80, Checks: []testCheck{{HTTP: "http://x", Interval: Duration{time.Second}}}}}
	with := func(list []testService) Config {
		c := Default()
		c.extra = map[string]any{"services": list}
		return c
	}
	modify := func(f func(s *testService)) []testService {
		s := base[0]
		s.Checks = slices.Clone(s.Checks)
		f(&s)
		return []testService{s}
	}
	tests := []struct {
		name string
		a, b Config
		want []string
	}{
		{"same", with(base), with(modify(func(*testService) {})), nil},
		{"nil and empty list", with(nil), with([]testService{}), nil},
		{"absent and empty list", Default(), with([]testService{}), nil},
		{"nested empty and nil", with(modify(func(s *testService) { s.Tags = []string{}; s.Meta = map[string]string{} })), with(base), nil},
		{"nested empty map in a map", with(modify(func(s *testService) { s.Proxy.Upstreams = map[string]testUpstream{} })), with(base), nil},
		{"a field", with(base), with(modify(func(s *testService) { s.Port = 81 })), []string{"services"}},
		{"a nested duration", with(base), with(modify(func(s *testService) { s.Checks[0].Interval = Duration{2 * time.Second} })), []string{"services"}},
		{"a map entry", with(base), with(modify(func(s *testService) { s.Meta = map[string]string{"a": ""} })), []string{"services"}},
		{"a block more", with(base), with(append(slices.Clone(base), testService{Name: "db"})), []string{"services"}},
		{"order", with([]testService{{Name: "a"}, {Name: "b"}}), with([]testService{{Name: "b"}, {Name: "a"}}), []string{"services"}},
		{"removed", with(base), Default(), []string{"services"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Changed(tt.a, tt.b); !slices.Equal(got, tt.want) {
				t.Errorf("Changed = %q, want %q", got, tt.want)
			}
			if got := Changed(tt.b, tt.a); !slices.Equal(got, tt.want) {
				t.Errorf("Changed, swapped = %q, want %q", got, tt.want)
			}
		})
	}

	// Loading the same files twice changes nothing; editing one block does.
	dir := t.TempDir()
	writeFile(t, dir, "10.yaml", "services:\n  - name: web\n    checks: []\n    meta: {a: b}\n")
	writeFile(t, dir, "20.yaml", "services: [{name: db, checks: [{tcp: 'localhost:5432', interval: 5s}]}]\n")
	first, err := LoadFiles(nil, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	second, _ := LoadFiles(nil, []string{dir})
	if got := Changed(first, second); len(got) != 0 {
		t.Errorf("the same files loaded twice differ in %q", got)
	}
	writeFile(t, dir, "20.yaml", "services: [{name: db, checks: [{tcp: 'localhost:5432', interval: 6s}]}]\n")
	third, err := LoadFiles(nil, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := Changed(first, third); !slices.Equal(got, []string{"services"}) {
		t.Errorf("after an edit Changed = %q", got)
	}
	if services(&first)[1].Checks[0].Interval.Duration != 5*time.Second {
		t.Error("loading again changed an earlier Config")
	}
}

// TestBlockTypes checks the types a block option accepts; the others
// panic when the option is declared.
func TestBlockTypes(t *testing.T) {
	type recursive struct {
		Name string      `yaml:"name"`
		Sub  []recursive `yaml:"sub"`
	}
	tests := []struct {
		typ  reflect.Type
		want string // "" for accepted
	}{
		{reflect.TypeFor[testService](), ""},
		{reflect.TypeFor[struct {
			A string `yaml:"a"`
			B string
		}](), "yaml"},
		{reflect.TypeFor[struct {
			A string `yaml:"a"`
			b string
		}](), "unexported"},
		{reflect.TypeFor[struct {
			T time.Duration `yaml:"t"`
		}](), "config.Duration"},
		{reflect.TypeFor[struct {
			M map[int]string `yaml:"m"`
		}](), "map keys"},
		{reflect.TypeFor[struct {
			P *testCheck `yaml:"p"`
		}](), "unsupported"},
		{reflect.TypeFor[struct {
			C testCheck `yaml:",inline"`
		}](), "give a name"},
		{reflect.TypeFor[struct {
			A string `yaml:"x"`
			B string `yaml:"x"`
		}](), "used twice"},
		{reflect.TypeFor[recursive](), "contains itself"},
	}
	for _, tt := range tests {
		err := checkBlockType(tt.typ, nil)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%v: err = %v, want %q", tt.typ, err, tt.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("declaring a block option of a bad type does not panic")
		}
	}()
	newBlockOption("bad", "", func(c *Config) *[]recursive { return nil }, nil)
}

func TestParentPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"services[1].checks[0].interval", "services[1].checks[0]"},
		{"services[1].checks[0]", "services[1].checks"},
		{"services[1]", "services"},
		{"services", ""},
		{"tls.ca_file", "tls"},
		{`services[0].meta["a.b"]`, "services[0].meta"},
		{"[0]", ""},
	}
	for _, tt := range tests {
		if got := parentPath(tt.in); got != tt.want {
			t.Errorf("parentPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
