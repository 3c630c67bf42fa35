package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// origins records, for each key set by a file, an environment variable or a
// flag, where its current value came from. Keys absent were left at their
// default. For a block list it also records the position of every value in
// the blocks, by path ("services[0].checks[1].interval").
type origins map[string]string

// source returns where the value at key came from, "default" if it was
// never set, or "" when no origins were recorded (Config.Validate). For a
// path inside a block list whose value was not written in a file, it is
// the position of the closest enclosing value that was: the block that
// lacks a required field.
func (o origins) source(key string) string {
	if o == nil {
		return ""
	}
	for path := key; path != ""; path = parentPath(path) {
		if s, ok := o[path]; ok {
			return s
		}
	}
	return "default"
}

// parentPath strips the last field or index from a block path:
// "a[0].b" gives "a[0]", which gives "a", which gives "".
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i > 0 {
			return path[:i]
		}
		return ""
	}
	if i := strings.LastIndexAny(path, ".]"); i >= 0 && path[i] == '.' {
		return path[:i]
	}
	return ""
}

// readSources applies files in order, then the YAML files of each directory
// in lexical order, onto c. A later file overrides an earlier one key by
// key; lists are replaced, not appended, except block lists, whose blocks
// are appended (blocks.go). All problems are returned, not just the first.
func readSources(c *Config, from origins, files, dirs []string) []error {
	var errs []error
	for _, path := range files {
		errs = append(errs, readFile(c, from, path)...)
	}
	for _, dir := range dirs {
		paths, err := dirFiles(dir)
		if err != nil {
			errs = append(errs, &Error{Source: dir, Err: sourceError(err)})
			continue
		}
		for _, path := range paths {
			errs = append(errs, readFile(c, from, path)...)
		}
	}
	return errs
}

func readFile(c *Config, from origins, path string) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		return []error{&Error{Source: path, Err: sourceError(err)}}
	}
	return parseFile(c, from, path, data)
}

// dirFiles lists the *.yaml and *.yml files of dir in lexical order.
// Symbolic links are followed (configuration volumes are often links);
// other files and subdirectories are ignored.
func dirFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); ext != ".yaml" && ext != ".yml" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		info, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if info.Mode().IsRegular() {
			paths = append(paths, path)
		}
	}
	return paths, nil
}

// parseFile applies one YAML file, named name in errors, onto c and records
// the position of each value it sets. The top level must be a mapping of
// known keys, each at most once; an empty file sets nothing.
func parseFile(c *Config, from origins, name string, data []byte) []error {
	root, err := parseYAML(data)
	if err != nil {
		return []error{yamlError(name, err)}
	}
	if root == nil {
		return nil
	}
	root, err = resolveAlias(root)
	if err != nil {
		return []error{&Error{Source: name, Err: err}}
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil // a document holding only "~" or "null"
	}
	if root.Kind != yaml.MappingNode {
		return []error{&Error{Source: position(name, root),
			Err: newProblem(ErrSyntax, "top level must be a mapping of keys to values, got %s", describe(root))}}
	}
	return parseMapping(c, from, newBlockDecoder(name, from), root, "")
}

// parseMapping applies the keys of a mapping node of the file blocks
// decodes. prefix is "" at the top level and "section." inside a section
// such as tls, whose keys are options named "section.key".
func parseMapping(c *Config, from origins, blocks *blockDecoder, node *yaml.Node, prefix string) []error {
	name := blocks.file
	var errs []error
	seen := make(map[string]int)
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		kr, err := resolveAlias(k)
		if err == nil && kr.Kind != yaml.ScalarNode {
			err = newProblem(ErrSyntax, "key must be a string, got %s", describe(kr))
		}
		if err != nil {
			errs = append(errs, &Error{Source: position(name, k), Err: err})
			continue
		}
		key := prefix + kr.Value
		if first, dup := seen[key]; dup {
			errs = append(errs, &Error{Source: position(name, k), Key: key,
				Err: newProblem(ErrDuplicateKey, "duplicate key, first set on line %d", first)})
			continue
		}
		seen[key] = k.Line
		if isSection(key) {
			vr, err := resolveAlias(v)
			if err == nil && vr.Kind != yaml.MappingNode {
				err = typef("expected a mapping of %s settings, got %s", key, describe(vr))
			}
			if err != nil {
				errs = append(errs, &Error{Source: position(name, v), Key: key, Err: err})
				continue
			}
			errs = append(errs, parseMapping(c, from, blocks, vr, key+".")...)
			continue
		}
		o, ok := optionsByKey[key]
		if !ok {
			errs = append(errs, &Error{Source: position(name, k), Key: key, Err: unknownKey(key)})
			continue
		}
		if o.readBlocks != nil {
			if blockErrs := o.readBlocks(c, blocks, v); len(blockErrs) > 0 {
				errs = append(errs, blockErrs...)
				continue
			}
		} else if err := o.fromYAML(c, v); err != nil {
			errs = append(errs, &Error{Source: position(name, v), Key: key, Err: err})
			continue
		}
		from[key] = position(name, v)
	}
	return errs
}

// isSection reports whether key names a section: a mapping whose entries
// are the options "key.entry".
func isSection(key string) bool {
	for k := range optionsByKey {
		if strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

// errMultipleDocuments marks a file with a second "---" document.
var errMultipleDocuments = errors.New("more than one YAML document")

// parseYAML returns the root node of the single document in data, or nil
// for an empty document.
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, err
	default:
		return nil, fmt.Errorf("line %d: %w", extra.Line, errMultipleDocuments)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// yamlLine matches the line yaml.v3 puts in its syntax errors.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// yamlError turns a YAML syntax error into an *Error whose Source carries
// the line when the parser reported one.
func yamlError(name string, err error) error {
	msg := err.Error()
	source := name
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if line, convErr := strconv.Atoi(m[1]); convErr == nil {
			source = name + ":" + strconv.Itoa(line)
			msg = msg[len(m[0]):]
		}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	return &Error{Source: source, Err: &problem{kind: ErrSyntax, msg: msg}}
}

// position formats a node's location as file:line:column.
func position(name string, n *yaml.Node) string {
	return fmt.Sprintf("%s:%d:%d", name, n.Line, n.Column)
}

// unknownKey reports a key that is not an option, suggesting the closest
// one when the key looks like a typo, a flag name or an environment
// variable.
func unknownKey(key string) error {
	if s := suggestKey(key); s != "" {
		return newProblem(ErrUnknownKey, "unknown key; did you mean %q?", s)
	}
	return newProblem(ErrUnknownKey, "unknown key")
}

// maxSuggestDistance is the largest edit distance suggested as a typo.
const maxSuggestDistance = 2

func suggestKey(key string) string {
	if len(key) > 64 {
		return ""
	}
	norm := normalizeKey(key)
	best, bestDist := "", maxSuggestDistance+1
	for i := range options {
		o := &options[i]
		if (o.flag != "" && norm == normalizeKey(o.flag)) || (o.env != "" && key == o.env) {
			return o.key
		}
		if d := editDistance(norm, o.key); d < bestDist {
			best, bestDist = o.key, d
		}
	}
	return best
}

// normalizeKey folds case and dashes so "Gossip-Port" compares as
// "gossip_port".
func normalizeKey(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "-", "_")
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
