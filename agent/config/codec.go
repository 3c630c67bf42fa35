package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// codec converts one option type from each source. Values from YAML are
// typed strictly: an integer option takes a YAML integer, not the string
// "7946" nor the float 7946.0; a boolean takes true or false.
type codec[T any] struct {
	// fromYAML converts a file's value node.
	fromYAML func(n *yaml.Node) (T, error)
	// parse converts an environment variable or a flag's argument.
	parse func(s string) (T, error)
	// format renders a value for -help.
	format func(v T) string
	// add, when not nil, makes the flag repeatable: each use adds s to cur
	// instead of replacing the value.
	add func(cur T, s string) (T, error)
	// clone copies a value so a Config never shares memory with a Loader.
	clone func(v T) T
	// isBool makes the flag usable without an argument.
	isBool bool
}

// codecFor returns the codec for T. It panics for a type without one, which
// the option table's tests catch.
func codecFor[T any]() codec[T] {
	var c any
	var zero T
	switch any(zero).(type) {
	case string:
		c = stringCodec
	case int:
		c = intCodec
	case float64:
		c = floatCodec
	case bool:
		c = boolCodec
	case Duration:
		c = durationCodec
	case []string:
		c = stringListCodec
	case map[string]string:
		c = tagsCodec
	default:
		panic(fmt.Sprintf("config: no codec for option type %T", zero))
	}
	return c.(codec[T])
}

func same[T any](v T) T { return v }

var stringCodec = codec[string]{
	fromYAML: func(n *yaml.Node) (string, error) { return scalarText(n, "a string") },
	parse:    func(s string) (string, error) { return s, nil },
	format:   same[string],
	clone:    same[string],
}

var intCodec = codec[int]{
	fromYAML: func(n *yaml.Node) (int, error) {
		r, err := resolveAlias(n)
		if err != nil {
			return 0, err
		}
		var v int
		if r.Kind != yaml.ScalarNode || r.ShortTag() != "!!int" || r.Decode(&v) != nil {
			return 0, typef("expected an integer, got %s", describe(r))
		}
		return v, nil
	},
	parse: func(s string) (int, error) {
		v, err := strconv.Atoi(s)
		if err != nil {
			return 0, typef("expected an integer, got %q", clip(s))
		}
		return v, nil
	},
	format: strconv.Itoa,
	clone:  same[int],
}

var boolCodec = codec[bool]{
	fromYAML: func(n *yaml.Node) (bool, error) {
		r, err := resolveAlias(n)
		if err != nil {
			return false, err
		}
		var v bool
		if r.Kind != yaml.ScalarNode || r.ShortTag() != "!!bool" || r.Decode(&v) != nil {
			return false, typef("expected true or false, got %s", describe(r))
		}
		return v, nil
	},
	parse: func(s string) (bool, error) {
		v, err := strconv.ParseBool(s)
		if err != nil {
			return false, typef("expected a boolean (true, false, 1, 0), got %q", clip(s))
		}
		return v, nil
	},
	format: strconv.FormatBool,
	clone:  same[bool],
	isBool: true,
}

var durationCodec = codec[Duration]{
	fromYAML: func(n *yaml.Node) (Duration, error) {
		s, err := scalarText(n, "a duration such as 72h or 30s")
		if err != nil {
			return Duration{}, err
		}
		return ParseDuration(s)
	},
	parse:  ParseDuration,
	format: func(d Duration) string { return d.String() },
	clone:  same[Duration],
}

// stringListCodec reads a YAML sequence of strings, or a comma-separated
// environment variable; the flag is repeated, one entry per use.
var stringListCodec = codec[[]string]{
	fromYAML: func(n *yaml.Node) ([]string, error) {
		r, err := resolveAlias(n)
		if err != nil {
			return nil, err
		}
		if r.Kind != yaml.SequenceNode {
			return nil, typef("expected a list, got %s", describe(r))
		}
		var out []string
		for i, item := range r.Content {
			s, err := scalarText(item, "a string")
			if err != nil {
				return nil, typef("item %d: %v", i+1, err)
			}
			out = append(out, s)
		}
		return out, nil
	},
	parse: func(s string) ([]string, error) {
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		parts := strings.Split(s, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts, nil
	},
	format: func(v []string) string { return strings.Join(v, ",") },
	add:    func(cur []string, s string) ([]string, error) { return append(cur, s), nil },
	clone:  slices.Clone[[]string],
}

// tagsCodec reads a YAML mapping of strings, or KEY=VALUE pairs: one per
// flag use, comma-separated in an environment variable.
var tagsCodec = codec[map[string]string]{
	fromYAML: func(n *yaml.Node) (map[string]string, error) {
		r, err := resolveAlias(n)
		if err != nil {
			return nil, err
		}
		if r.Kind != yaml.MappingNode {
			return nil, typef("expected a mapping of tag: value, got %s", describe(r))
		}
		out := map[string]string{}
		for i := 0; i+1 < len(r.Content); i += 2 {
			k, err := scalarText(r.Content[i], "a tag name")
			if err != nil {
				return nil, err
			}
			v, err := scalarText(r.Content[i+1], "a tag value")
			if err != nil {
				return nil, typef("tag %q: %v", clip(k), err)
			}
			if _, dup := out[k]; dup {
				return nil, typef("tag %q given twice", clip(k))
			}
			out[k] = v
		}
		return out, nil
	},
	parse: func(s string) (map[string]string, error) {
		out := map[string]string{}
		for _, part := range strings.Split(s, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			var err error
			if out, err = addTag(out, part); err != nil {
				return nil, err
			}
		}
		return out, nil
	},
	format: func(v map[string]string) string {
		parts := make([]string, 0, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			parts = append(parts, k+"="+v[k])
		}
		return strings.Join(parts, ",")
	},
	add:   addTag,
	clone: maps.Clone[map[string]string],
}

func addTag(cur map[string]string, s string) (map[string]string, error) {
	k, v, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok || k == "" {
		return nil, typef("expected KEY=VALUE, got %q", clip(s))
	}
	out := maps.Clone(cur)
	if out == nil {
		out = map[string]string{}
	}
	out[k] = v
	return out, nil
}

// maxAliasDepth bounds alias chains; real files never come close.
const maxAliasDepth = 16

// resolveAlias follows *alias references to the anchored node.
func resolveAlias(n *yaml.Node) (*yaml.Node, error) {
	for range maxAliasDepth {
		if n.Kind != yaml.AliasNode {
			return n, nil
		}
		if n.Alias == nil {
			return nil, typef("alias *%s refers to nothing", n.Value)
		}
		n = n.Alias
	}
	return nil, typef("aliases nested too deeply")
}

// scalarText returns the literal text of a scalar of any type but null, so
// that `node_name: 1234` names a node "1234". want describes the expected
// value for the error.
func scalarText(n *yaml.Node, want string) (string, error) {
	r, err := resolveAlias(n)
	if err != nil {
		return "", err
	}
	if r.Kind != yaml.ScalarNode || r.ShortTag() == "!!null" {
		return "", typef("expected %s, got %s", want, describe(r))
	}
	return r.Value, nil
}

// describe names a node's kind and value for an error message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null (no value)"
		case "!!str":
			return fmt.Sprintf("string %q", clip(n.Value))
		case "!!int":
			return fmt.Sprintf("integer %s", clip(n.Value))
		case "!!float":
			return fmt.Sprintf("number %s", clip(n.Value))
		case "!!bool":
			return fmt.Sprintf("boolean %s", clip(n.Value))
		default:
			return fmt.Sprintf("%s %q", clip(n.ShortTag()), clip(n.Value))
		}
	}
	return "nothing"
}

// maxQuoted bounds how much of a bad value an error message repeats.
const maxQuoted = 64

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	return strings.ToValidUTF8(s[:maxQuoted], "") + "..."
}
