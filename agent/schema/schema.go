package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Prefix starts the keys of schemas: "_schema/app/" is the schema of the
// keys under "app/".
const Prefix = "_schema/"

// Bounds of a schema.
const (
	// MaxSize bounds a schema's JSON.
	MaxSize = 16 << 10
	// MaxPatternLen bounds a pattern's length, in bytes. RE2 matches in
	// linear time; the bound keeps compiling and matching cheap too.
	MaxPatternLen = 512
)

// Types of value.
const (
	TypeString   = "string"
	TypeInt      = "int"
	TypeFloat    = "float"
	TypeBool     = "bool"
	TypeDuration = "duration"
	TypeEnum     = "enum"
	TypeJSON     = "json"
)

// ErrInvalidSchema is wrapped by every error of Decode.
var ErrInvalidSchema = errors.New("invalid schema")

// Violation is a value a schema refuses: the key and the rule it breaks.
type Violation struct {
	Key  string // the key written or read, as stored
	Rule string // e.g. "90s above max 60s"
}

func (v *Violation) Error() string { return v.Key + ": " + v.Rule }

// spec is a schema as written.
type spec struct {
	Type     string          `json:"type"`
	Min      json.RawMessage `json:"min,omitempty"`
	Max      json.RawMessage `json:"max,omitempty"`
	Pattern  *string         `json:"pattern,omitempty"`
	Values   []string        `json:"values,omitempty"`
	Required []string        `json:"required,omitempty"`
}

// Schema is a decoded schema: the type of a key's value and its bounds.
// It is immutable and safe for concurrent use.
type Schema struct {
	typ      string
	min, max *float64       // int, float; string: length in characters
	minD     *time.Duration // duration
	maxD     *time.Duration
	minS     string // the duration bounds as written
	maxS     string
	imin     *int64 // int: exact bounds
	imax     *int64
	re       *regexp.Regexp
	values   []string
	required []string
}

// Type returns the schema's type.
func (s *Schema) Type() string { return s.typ }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidSchema, fmt.Sprintf(format, args...))
}

// Decode decodes a schema strictly: a JSON object of at most MaxSize
// bytes, with a known type, no unknown field, and only the fields its
// type takes (min and max for string, int, float and duration; pattern
// for string; values for enum; required for json). Every error wraps
// ErrInvalidSchema.
func Decode(b []byte) (*Schema, error) {
	if len(b) > MaxSize {
		return nil, invalid("%d bytes, at most %d", len(b), MaxSize)
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, invalid("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var sp spec
	if err := dec.Decode(&sp); err != nil {
		return nil, invalid("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid("data after the object")
	}
	s := &Schema{typ: sp.Type}
	takes := map[string][]string{
		TypeString: {"min", "max", "pattern"}, TypeInt: {"min", "max"}, TypeFloat: {"min", "max"},
		TypeDuration: {"min", "max"}, TypeBool: nil, TypeEnum: {"values"}, TypeJSON: {"required"},
	}
	fields, ok := takes[sp.Type]
	if !ok {
		return nil, invalid("type %q: string, int, float, bool, duration, enum or json", clip(sp.Type))
	}
	for name, set := range map[string]bool{"min": sp.Min != nil, "max": sp.Max != nil, "pattern": sp.Pattern != nil,
		"values": sp.Values != nil, "required": sp.Required != nil} {
		if set && !contains(fields, name) {
			return nil, invalid("%s does not apply to type %s", name, sp.Type)
		}
	}
	var err error
	switch sp.Type {
	case TypeString:
		if s.min, s.max, err = bounds(sp.Min, sp.Max, true); err != nil {
			return nil, err
		}
		if sp.Pattern != nil {
			if len(*sp.Pattern) > MaxPatternLen {
				return nil, invalid("pattern of %d bytes, at most %d", len(*sp.Pattern), MaxPatternLen)
			}
			if s.re, err = regexp.Compile(*sp.Pattern); err != nil {
				return nil, invalid("pattern: %v", err)
			}
		}
	case TypeInt:
		if s.imin, err = intBound("min", sp.Min); err != nil {
			return nil, err
		}
		if s.imax, err = intBound("max", sp.Max); err != nil {
			return nil, err
		}
		if s.imin != nil && s.imax != nil && *s.imin > *s.imax {
			return nil, invalid("min %d above max %d", *s.imin, *s.imax)
		}
	case TypeFloat:
		if s.min, s.max, err = bounds(sp.Min, sp.Max, false); err != nil {
			return nil, err
		}
	case TypeDuration:
		if s.minD, s.minS, err = durationBound("min", sp.Min); err != nil {
			return nil, err
		}
		if s.maxD, s.maxS, err = durationBound("max", sp.Max); err != nil {
			return nil, err
		}
		if s.minD != nil && s.maxD != nil && *s.minD > *s.maxD {
			return nil, invalid("min %s above max %s", s.minS, s.maxS)
		}
	case TypeEnum:
		if len(sp.Values) == 0 {
			return nil, invalid("enum without values")
		}
		if err := distinct("values", sp.Values); err != nil {
			return nil, err
		}
		s.values = sp.Values
	case TypeJSON:
		if err := distinct("required", sp.Required); err != nil {
			return nil, err
		}
		s.required = sp.Required
	}
	return s, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func distinct(field string, l []string) error {
	seen := make(map[string]bool, len(l))
	for _, v := range l {
		if seen[v] {
			return invalid("%s lists %q twice", field, clip(v))
		}
		seen[v] = true
	}
	return nil
}

// bounds decodes the number bounds min and max; length ones are whole
// and not negative.
func bounds(rawMin, rawMax json.RawMessage, length bool) (lo, hi *float64, err error) {
	dec := func(name string, raw json.RawMessage) (*float64, error) {
		if raw == nil {
			return nil, nil
		}
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, invalid("%s: not a number", name)
		}
		if length && (f < 0 || f != math.Trunc(f)) {
			return nil, invalid("%s: a length is a whole number, not negative", name)
		}
		return &f, nil
	}
	if lo, err = dec("min", rawMin); err != nil {
		return nil, nil, err
	}
	if hi, err = dec("max", rawMax); err != nil {
		return nil, nil, err
	}
	if lo != nil && hi != nil && *lo > *hi {
		return nil, nil, invalid("min %v above max %v", *lo, *hi)
	}
	return lo, hi, nil
}

func intBound(name string, raw json.RawMessage) (*int64, error) {
	if raw == nil {
		return nil, nil
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		return nil, invalid("%s: not a whole number", name)
	}
	return &n, nil
}

func durationBound(name string, raw json.RawMessage) (*time.Duration, string, error) {
	if raw == nil {
		return nil, "", nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return nil, "", invalid("%s: a duration is a string such as \"30s\"", name)
	}
	d, err := time.ParseDuration(str)
	if err != nil {
		return nil, "", invalid("%s: %v", name, err)
	}
	return &d, str, nil
}

// Validate checks value, stored at key, against s: nil, or a *Violation
// naming key and the rule value breaks.
func (s *Schema) Validate(key string, value []byte) error {
	if rule := s.rule(value); rule != "" {
		return &Violation{Key: key, Rule: rule}
	}
	return nil
}

// rule returns the rule value breaks, "" when it passes.
func (s *Schema) rule(value []byte) string {
	v := string(value)
	q := quote(v)
	switch s.typ {
	case TypeString:
		if !utf8.ValidString(v) {
			return "not valid UTF-8"
		}
		n := float64(utf8.RuneCountInString(v))
		if s.min != nil && n < *s.min {
			return fmt.Sprintf("length %v below min %v", n, *s.min)
		}
		if s.max != nil && n > *s.max {
			return fmt.Sprintf("length %v above max %v", n, *s.max)
		}
		if s.re != nil && !s.re.MatchString(v) {
			return fmt.Sprintf("%s does not match pattern %s", q, quote(s.re.String()))
		}
	case TypeInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return q + " is not an int"
		}
		if s.imin != nil && n < *s.imin {
			return fmt.Sprintf("%d below min %d", n, *s.imin)
		}
		if s.imax != nil && n > *s.imax {
			return fmt.Sprintf("%d above max %d", n, *s.imax)
		}
	case TypeFloat:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return q + " is not a float"
		}
		if s.min != nil && f < *s.min {
			return fmt.Sprintf("%v below min %v", f, *s.min)
		}
		if s.max != nil && f > *s.max {
			return fmt.Sprintf("%v above max %v", f, *s.max)
		}
	case TypeBool:
		if v != "true" && v != "false" {
			return q + " is not a bool (true or false)"
		}
	case TypeDuration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return q + " is not a duration"
		}
		if s.minD != nil && d < *s.minD {
			return fmt.Sprintf("%s below min %s", v, s.minS)
		}
		if s.maxD != nil && d > *s.maxD {
			return fmt.Sprintf("%s above max %s", v, s.maxS)
		}
	case TypeEnum:
		if !contains(s.values, v) {
			return fmt.Sprintf("%s is not one of %s", q, clip(strings.Join(s.values, ", ")))
		}
	case TypeJSON:
		return s.jsonRule(value)
	}
	return ""
}

func (s *Schema) jsonRule(value []byte) string {
	if !json.Valid(value) {
		return "not valid JSON"
	}
	if len(s.required) == 0 {
		return ""
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(value, &obj); err != nil {
		return "not a JSON object"
	}
	for _, k := range s.required {
		if _, ok := obj[k]; !ok {
			return fmt.Sprintf("required field %s missing", quote(k))
		}
	}
	return ""
}

// quote quotes a value for a rule, clipped.
func quote(s string) string { return strconv.Quote(clip(s)) }

func clip(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
