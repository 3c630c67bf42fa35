package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A block list is an option whose value is a list of structured blocks,
// such as service definitions: each block is a Go struct whose exported
// fields all carry a yaml tag. Fields may be strings, booleans, integers,
// floats, Durations, nested block structs, lists of any of these, and maps
// from string to any of these.
//
// Block lists differ from the other options in two ways:
//
//   - They come from files only: there is no flag and no environment
//     variable, because a list of nested blocks does not fit on a command
//     line or in a variable readably.
//   - A file's blocks are appended to those of the files read before it,
//     as Consul registers the services of every file of its configuration
//     directory, where every other list is replaced by a later file. A
//     fleet can then drop one file per service into a -config-dir.
//
// Files are decoded strictly. Every problem is an *Error whose Key is the
// path of the offending value, such as "services[1].checks[0].intervl",
// with the value's file:line:col. An index counts the blocks of every file
// read so far, in reading order.
//
// After the files are read, Validate is called on every block and every
// nested block that has a method `Validate() error`, outermost first, and
// then the option's rule on the whole list. An error a Validate method
// returns is blamed on its block; a *FieldError is blamed on the field it
// names, and errors.Join combines several.

// FieldError is what a block's Validate returns to blame one of its fields.
// Field is the field's yaml name, or a path below the block such as
// "checks[0].interval" or "[2].id" for a list rule.
type FieldError struct {
	Field string
	Err   error
}

// Error formats the problem as "<field>: <problem>".
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the problem.
func (e *FieldError) Unwrap() error { return e.Err }

// newBlockOption binds a table row to a Config field holding a list of
// blocks of type B. check, when not nil, is a rule on the whole list (for
// example, that ids are unique), run after each block's Validate. It
// panics when B is not a block type, which the option table's tests catch.
func newBlockOption[B any](key, usage string, field func(*Config) *[]B, check func([]B) error) option {
	o := blockOption(key, usage,
		func(c *Config) []B { return *field(c) },
		func(c *Config, v []B) { *field(c) = v },
		check)
	o.field = func(c *Config) any { return field(c) }
	return o
}

// blockOption is newBlockOption for a list stored behind get and set.
func blockOption[B any](key, usage string, get func(*Config) []B, set func(*Config, []B), check func([]B) error) option {
	elem := reflect.TypeFor[B]()
	if err := checkBlockType(elem, nil); err != nil {
		panic(fmt.Sprintf("config: option %q: %v", key, err))
	}
	return option{
		key:   key,
		usage: usage,
		value: func(c *Config) any { return get(c) },
		readBlocks: func(c *Config, d *blockDecoder, n *yaml.Node) []error {
			have := get(c)
			list := reflect.New(reflect.TypeFor[[]B]()).Elem()
			before := len(d.errs)
			d.decodeList(n, list, key, len(have))
			if len(d.errs) > before {
				errs := d.errs[before:]
				d.errs = d.errs[:before]
				return errs
			}
			if list.Len() > 0 {
				// A new slice: the earlier one may be shared with a copy
				// of the Config.
				set(c, append(append([]B(nil), have...), list.Interface().([]B)...))
			}
			return nil
		},
		check: func(c *Config) []keyedError {
			list := get(c)
			var out []keyedError
			report := func(path string, err error) { out = append(out, keyedError{path, err}) }
			v := reflect.ValueOf(list)
			for i := range v.Len() {
				validateBlock(v.Index(i), fmt.Sprintf("%s[%d]", key, i), report)
			}
			if check != nil {
				blame(key, check(list), report)
			}
			return out
		},
	}
}

var durationType = reflect.TypeFor[Duration]()

// checkBlockType reports why t cannot be decoded as a block field, or nil.
// outer lists the struct types enclosing t, to refuse recursive types.
func checkBlockType(t reflect.Type, outer []reflect.Type) error {
	if t == durationType {
		return nil
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if t.PkgPath() == "time" {
			return fmt.Errorf("%v: use config.Duration", t)
		}
		return nil
	case reflect.Slice:
		return checkBlockType(t.Elem(), outer)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return fmt.Errorf("%v: map keys must be strings", t)
		}
		return checkBlockType(t.Elem(), outer)
	case reflect.Struct:
		for _, o := range outer {
			if o == t {
				return fmt.Errorf("%v contains itself", t)
			}
		}
		outer = append(outer, t)
		names := make(map[string]bool)
		for i := range t.NumField() {
			f := t.Field(i)
			name, err := blockFieldName(f)
			if err != nil {
				return fmt.Errorf("%v.%s: %v", t, f.Name, err)
			}
			if name == "" {
				continue
			}
			if names[name] {
				return fmt.Errorf("%v: yaml name %q used twice", t, name)
			}
			names[name] = true
			if err := checkBlockType(f.Type, outer); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%v: unsupported type", t)
}

// blockFieldName returns the yaml name of a block field, "" for a field
// tagged `yaml:"-"`.
func blockFieldName(f reflect.StructField) (string, error) {
	if !f.IsExported() {
		return "", errors.New("unexported field in a block")
	}
	tag, ok := f.Tag.Lookup("yaml")
	if !ok {
		return "", errors.New(`needs a yaml:"name" tag`)
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "-" && opts == "" {
		return "", nil
	}
	if name == "" || (opts != "" && opts != "omitempty") {
		return "", fmt.Errorf("yaml tag %q: give a name; only omitempty is allowed", tag)
	}
	return name, nil
}

// maxBlockValues bounds how many values the blocks of one file may hold,
// counting each time an alias is expanded: a few kilobytes of nested
// aliases could otherwise expand to billions of values.
const maxBlockValues = 1 << 17

// blockDecoder decodes the block lists of one file into Go values.
type blockDecoder struct {
	file   string
	from   origins // receives the position of every value decoded
	values int     // values decoded so far, against maxBlockValues
	errs   []error
}

func newBlockDecoder(file string, from origins) *blockDecoder {
	return &blockDecoder{file: file, from: from}
}

func (d *blockDecoder) fail(n *yaml.Node, path string, err error) {
	d.errs = append(d.errs, &Error{Source: position(d.file, n), Key: path, Err: err})
}

// resolve follows aliases and counts the value against the file's budget.
// It returns nil, after recording the problem, when decoding must stop.
func (d *blockDecoder) resolve(n *yaml.Node, path string) *yaml.Node {
	r, err := resolveAlias(n)
	if err != nil {
		d.fail(n, path, err)
		return nil
	}
	d.values++
	if d.values == maxBlockValues+1 {
		d.fail(n, path, newProblem(ErrSyntax, "more than %d values in this file's blocks (aliases expanding?)", maxBlockValues))
	}
	if d.values > maxBlockValues {
		return nil
	}
	if d.from != nil {
		d.from[path] = position(d.file, n)
	}
	return r
}

// decodeList decodes a sequence of blocks into list (a nil slice), naming
// the items from path[first] on.
func (d *blockDecoder) decodeList(n *yaml.Node, list reflect.Value, path string, first int) {
	r := d.resolve(n, path)
	if r == nil {
		return
	}
	if r.Kind != yaml.SequenceNode {
		d.fail(n, path, typef("expected a list of blocks, got %s", describe(r)))
		return
	}
	d.decodeItems(r, list, path, first)
}

// decodeItems decodes the items of sequence r into the slice v.
func (d *blockDecoder) decodeItems(r *yaml.Node, v reflect.Value, path string, first int) {
	if len(r.Content) == 0 {
		return // empty and absent are the same
	}
	s := reflect.MakeSlice(v.Type(), len(r.Content), len(r.Content))
	for i, item := range r.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, first+i))
	}
	v.Set(s)
}

// decode sets v, of a type checkBlockType accepts, from n. Problems are
// recorded; v is left partly set and must not be used when there are any.
func (d *blockDecoder) decode(n *yaml.Node, v reflect.Value, path string) {
	r := d.resolve(n, path)
	if r == nil {
		return
	}
	t := v.Type()
	if t == durationType {
		s, err := scalarText(r, "a duration such as 72h or 30s")
		if err == nil {
			var dur Duration
			if dur, err = ParseDuration(s); err == nil {
				v.Set(reflect.ValueOf(dur))
				return
			}
		}
		d.fail(n, path, err)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, r, v, path)
	case reflect.Slice:
		if r.Kind != yaml.SequenceNode {
			d.fail(n, path, typef("expected a list, got %s", describe(r)))
			return
		}
		d.decodeItems(r, v, path, 0)
	case reflect.Map:
		d.decodeMap(n, r, v, path)
	case reflect.String:
		s, err := scalarText(r, "a string")
		if err != nil {
			d.fail(n, path, err)
			return
		}
		v.SetString(s)
	default:
		if err := decodeNumber(r, v); err != nil {
			d.fail(n, path, err)
		}
	}
}

// decodeNumber sets a boolean or numeric v from scalar r, typed strictly
// as the other options are: true or false for a boolean, a YAML integer
// for an integer, an integer or a float for a float.
func decodeNumber(r *yaml.Node, v reflect.Value) error {
	tag := ""
	if r.Kind == yaml.ScalarNode {
		tag = r.ShortTag()
	}
	switch v.Kind() {
	case reflect.Bool:
		var b bool
		if tag != "!!bool" || r.Decode(&b) != nil {
			return typef("expected true or false, got %s", describe(r))
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if tag != "!!int" || r.Decode(&i) != nil {
			return typef("expected an integer, got %s", describe(r))
		}
		if v.OverflowInt(i) {
			return typef("integer %s does not fit in %v", clip(r.Value), v.Type())
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		if tag != "!!int" || r.Decode(&u) != nil {
			return typef("expected an integer of at least 0, got %s", describe(r))
		}
		if v.OverflowUint(u) {
			return typef("integer %s does not fit in %v", clip(r.Value), v.Type())
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		var f float64
		if (tag != "!!int" && tag != "!!float") || r.Decode(&f) != nil {
			return typef("expected a number, got %s", describe(r))
		}
		if v.OverflowFloat(f) {
			return typef("number %s does not fit in %v", clip(r.Value), v.Type())
		}
		v.SetFloat(f)
	default:
		return typef("cannot decode %v", v.Type()) // checkBlockType refuses these
	}
	return nil
}

// decodeStruct sets the fields of block v from mapping r; unknown and
// repeated keys are errors.
func (d *blockDecoder) decodeStruct(n, r *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if r.Kind != yaml.MappingNode {
		d.fail(n, path, typef("expected a mapping of %s, got %s", strings.Join(blockFieldNames(t), ", "), describe(r)))
		return
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(r.Content); i += 2 {
		k, val := r.Content[i], r.Content[i+1]
		name, ok := d.mapKey(k, path, seen)
		if !ok {
			continue
		}
		fieldPath := path + "." + name
		idx, found := blockFieldIndex(t, name)
		if !found {
			d.fail(k, fieldPath, unknownField(name, blockFieldNames(t)))
			continue
		}
		d.decode(val, v.Field(idx), fieldPath)
	}
}

// decodeMap sets map v from mapping r.
func (d *blockDecoder) decodeMap(n, r *yaml.Node, v reflect.Value, path string) {
	if r.Kind != yaml.MappingNode {
		d.fail(n, path, typef("expected a mapping, got %s", describe(r)))
		return
	}
	if len(r.Content) == 0 {
		return // empty and absent are the same
	}
	m := reflect.MakeMapWithSize(v.Type(), len(r.Content)/2)
	seen := make(map[string]int)
	for i := 0; i+1 < len(r.Content); i += 2 {
		k, val := r.Content[i], r.Content[i+1]
		name, ok := d.mapKey(k, path, seen)
		if !ok {
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, mapPath(path, name))
		m.SetMapIndex(reflect.ValueOf(name).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

// mapKey returns the text of a mapping key, recording a problem when it is
// not a scalar or repeats an earlier key.
func (d *blockDecoder) mapKey(k *yaml.Node, path string, seen map[string]int) (string, bool) {
	kr, err := resolveAlias(k)
	if err == nil && (kr.Kind != yaml.ScalarNode || kr.ShortTag() == "!!null") {
		err = newProblem(ErrSyntax, "key must be a string, got %s", describe(kr))
	}
	if err != nil {
		d.fail(k, path, err)
		return "", false
	}
	name := kr.Value
	if first, dup := seen[name]; dup {
		d.fail(k, mapPath(path, name), newProblem(ErrDuplicateKey, "duplicate key, first set on line %d", first))
		return "", false
	}
	seen[name] = k.Line
	return name, true
}

// plainKey matches map keys that read well after a dot in a path.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// mapPath names the entry key of the map at path: path.key, or
// path['key'] when the key holds other characters (path["key"] with Go
// escapes when it holds quotes or control characters).
func mapPath(path, key string) string {
	if plainKey.MatchString(key) {
		return path + "." + key
	}
	key = clip(key)
	if q := strconv.Quote(key); q == `"`+key+`"` && !strings.Contains(key, "'") {
		return path + "['" + key + "']"
	}
	return fmt.Sprintf("%s[%q]", path, key)
}

// blockFieldNames lists the yaml names of a block type's fields.
func blockFieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name, _ := blockFieldName(t.Field(i)); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// blockFieldIndex finds the field of block type t named name in YAML.
func blockFieldIndex(t reflect.Type, name string) (int, bool) {
	for i := range t.NumField() {
		if n, _ := blockFieldName(t.Field(i)); n != "" && n == name {
			return i, true
		}
	}
	return 0, false
}

// unknownField reports a key that is none of a block's fields, suggesting
// the closest when it looks like a typo.
func unknownField(key string, fields []string) error {
	if len(key) <= 64 {
		norm := normalizeKey(key)
		best, bestDist := "", maxSuggestDistance+1
		for _, f := range fields {
			if d := editDistance(norm, f); d < bestDist {
				best, bestDist = f, d
			}
		}
		if best != "" {
			return newProblem(ErrUnknownKey, "unknown key; did you mean %q?", best)
		}
	}
	return newProblem(ErrUnknownKey, "unknown key; a block here takes %s", strings.Join(fields, ", "))
}

// validator is a block type with its own rules.
type validator interface{ Validate() error }

// validateBlock runs Validate on block v and then on every block nested in
// it, reporting each problem with the path of the value it blames.
func validateBlock(v reflect.Value, path string, report func(path string, err error)) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == durationType {
			return
		}
		if !v.CanAddr() { // a map's value: validate a copy
			c := reflect.New(v.Type()).Elem()
			c.Set(v)
			v = c
		}
		if val, ok := v.Addr().Interface().(validator); ok {
			blame(path, val.Validate(), report)
		}
		t := v.Type()
		for i := range t.NumField() {
			if name, _ := blockFieldName(t.Field(i)); name != "" {
				validateBlock(v.Field(i), path+"."+name, report)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			validateBlock(v.Index(i), fmt.Sprintf("%s[%d]", path, i), report)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			validateBlock(it.Value(), mapPath(path, it.Key().String()), report)
		}
	}
}

// joinedType is the type errors.Join returns.
var joinedType = reflect.TypeOf(errors.Join(errors.New("")))

// blame reports err at path, descending into the errors errors.Join
// combined and into each *FieldError's field. Problems outside this
// package's sentinel families become ErrInvalid.
func blame(path string, err error, report func(path string, err error)) {
	if err == nil {
		return
	}
	if reflect.TypeOf(err) == joinedType {
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			blame(path, e, report)
		}
		return
	}
	if fe, ok := err.(*FieldError); ok {
		blame(joinPath(path, fe.Field), fe.Err, report)
		return
	}
	for _, kind := range []error{ErrSyntax, ErrUnknownKey, ErrDuplicateKey, ErrType, ErrInvalid, ErrSource} {
		if errors.Is(err, kind) {
			report(path, err)
			return
		}
	}
	report(path, &problem{kind: ErrInvalid, cause: err, msg: err.Error()})
}

// joinPath appends a field, or an index such as "[2]", to path.
func joinPath(path, field string) string {
	switch {
	case field == "":
		return path
	case strings.HasPrefix(field, "["):
		return path + field
	}
	return path + "." + field
}
