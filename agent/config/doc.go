// Package config loads and validates the edgeplane agent's configuration.
//
// # Sources and precedence
//
// A Config is built in layers. Each layer overrides, key by key, the
// layers before it:
//
//  1. Defaults: Default, or DevDefault when -dev is given.
//  2. Files: every -config-file in the order given, then, for each
//     -config-dir in the order given, its *.yaml and *.yml files in lexical
//     order (name them 10-base.yaml, 20-site.yaml, ...). Other files and
//     subdirectories are ignored.
//  3. Environment: EDGEPLANE_<KEY>, for example EDGEPLANE_GOSSIP_PORT.
//  4. Flags set on the command line, for example -gossip-port.
//
// So flags > environment > files > defaults. A list is replaced whole by a
// later layer, never appended to: a second file's retry_join replaces the
// first's. Block lists (below) are the exception. In the environment a list is comma-separated
// (EDGEPLANE_RETRY_JOIN=10.0.0.1,10.0.0.2); as a flag it is repeated
// (-join 10.0.0.1 -join 10.0.0.2). A variable set to the empty string counts
// as set. Durations use Go syntax everywhere: 72h, 30s, 1h30m.
//
// The CLI registers the flags with NewLoader on its flag.FlagSet, parses the
// command line and calls Loader.Load with the environment lookup (nil for
// the process environment; tests pass a map's lookup). `edgeplane validate`
// calls LoadFiles, which reads files over the defaults and nothing else.
//
// # Dev mode
//
// -dev starts from DevDefault: Dev is true, DataDir is empty (the agent
// makes a temporary directory) and BindAddr is 127.0.0.1. A data_dir or
// bind_addr set in any layer still wins. -dev is a flag only.
//
// # Strictness
//
// A configuration mistake on an unattended edge node is found at start, with
// its location, rather than in production. Files are read through yaml.v3's
// node tree, so every key and value has a line and column:
//
//   - An unknown key is an error, with a suggestion when it is close to a
//     known key, a flag name or an environment variable name:
//     /etc/edgeplane/a.yaml:7:1: key "gosip_port": unknown key; did you mean "gossip_port"?
//   - Values are typed: gossip_port takes a YAML integer (not "7946" in
//     quotes), log_json takes true or false, tombstone_ttl a Go duration.
//     A string option takes any scalar's literal text (node_name: 1234),
//     but not null.
//   - A key set twice in one file, a top level that is not a mapping, more
//     than one YAML document, and malformed YAML are errors. An empty file
//     is not: it sets nothing.
//   - After merging, Validate checks each option's rule. Its errors name the
//     source of the offending value: a file position, "env NAME", "flag
//     -name" or "default".
//
// Every error is an *Error carrying Source and Key; several are joined with
// errors.Join so one run reports every problem. Each matches one sentinel
// (ErrSyntax, ErrUnknownKey, ErrDuplicateKey, ErrType, ErrInvalid,
// ErrSource) for errors.Is. Errors about the gossip key or a token's
// secret never print them.
//
// # Block lists
//
// An option may hold a list of structured blocks, each a mapping of fields
// that may nest further mappings, lists and maps (newBlockOption, in
// blocks.go). Block lists come from files only, with no flag or
// environment variable, and the blocks of every file are appended in
// reading order, as Consul registers the services of every file in its
// configuration directory. Errors name the path of the value:
//
//	/etc/edgeplane/conf.d/web.yaml:6:9: key "services[1].checks[0].intervl": unknown key; did you mean "interval"?
//	/etc/edgeplane/conf.d/web.yaml:3:11: key "services[0].port": 70000 out of range 0-65535
//
// An index counts blocks across the files read so far. A block type's
// Validate method checks one block and blames a field with *FieldError;
// the option's rule checks the whole list. Changed treats an empty list or
// map as absent at any depth.
//
// # Adding an option
//
// Options are defined once, in the table in options.go. To add one:
//
//  1. Add the field to Config, documenting its key, flag and default, and
//     set the default in Default.
//  2. Add one line to the table: key, flag name, usage, the field, and the
//     validation rule (a func(T) error, or nil). The environment variable,
//     file parsing, flag registration, source tracking and error locations
//     follow from the line.
//  3. If the field's type is not yet supported (string, int, bool, Duration,
//     []string), add a codec in codec.go.
//
// A block list is one line too: newBlockOption with the key, a usage
// line, the []B field and an optional rule on the list, where B is a
// struct whose exported fields all carry a yaml tag.
//
// A rule that spans several fields goes in validate, after the table loop.
package config
