// Package schema gives keys of the replicated KV store a type: the second
// part of the config centre, after layered reads (package layers).
//
// # Schemas
//
// A schema is a key "_schema/<prefix>" whose value is a JSON object:
//
//	{"type": "duration", "min": "1s", "max": "60s"}
//	{"type": "int", "min": 0, "max": 16}
//	{"type": "float", "max": 0.5}
//	{"type": "string", "min": 1, "max": 64, "pattern": "^[a-z0-9-]+$"}
//	{"type": "bool"}
//	{"type": "enum", "values": ["debug", "info", "warn"]}
//	{"type": "json", "required": ["url", "timeout"]}
//
// min and max are numbers for int and float, lengths in characters for
// string, Go durations ("90s", "1m30s") for duration. pattern is a Go
// regular expression (RE2: linear matching), at most MaxPatternLen bytes,
// that a string must match (anchor it with ^ and $ to match it whole).
// Decode is strict: at most MaxSize bytes, one JSON object, no unknown
// field, no field its type does not take. A schema is decoded once per
// modify index and cached.
//
// An int is a decimal integer ("42", "-1"), a float a decimal or
// exponent number (not NaN nor infinite), a bool exactly "true" or
// "false", a json value any JSON (with required, an object holding those
// fields).
//
// # Which schema governs a key
//
// Schemas govern keys relative to their layer. A store key is first
// stripped of the layer prefix it lies under, any node, site or
// environment (layers.Resolver.Strip): "global/app/x", "env/prod/app/x",
// "site/berlin/app/x", "node/n7/app/x" and the unlayered "app/x" all
// become "app/x". The schema in force is then the live "_schema/<p>" with
// the longest p that prefixes that key: "_schema/app/" governs every key
// under "app/" in every layer, and "_schema/app/timeout" beats it for
// "app/timeout". Keys under "_schema/" are schemas, governed by Decode. A
// stored schema that does not decode (written by a node that did not
// check it) is passed over, as if absent.
//
// # Writes
//
// Guard.CheckPut checks a write on the node that takes it (the KV
// endpoint, hence `edgeplane kv put` and `kv import`): a schema that does
// not decode, or a value that breaks the schema in force, is refused with
// an error naming the key and the rule ("app/timeout: 90s above max
// 60s"), and nothing is written. The check reads the schema just before
// the write; a schema written at the same moment elsewhere may miss it,
// which the read side below covers.
//
// # Reads and last good values
//
// A value may still break its schema: it was written on a node that runs
// no check, before the schema, or the schema changed since. Replication
// applies it as any other: plain KV reads return what is stored. Reads
// through the layers do not use it: Guard.Vet serves, for such a layer
// key, the last value of that key that passed its schema (flagged
// LastGood, with the rule the stored value breaks), and when there is
// none, or it breaks the schema now in force, the layer serves nothing
// and the next layer answers.
//
// Last good values live in the local (unreplicated) bucket Bucket, store
// key → value, flags and indexes. Keeper keeps it from the store's change
// feed: each changed key a schema governs is checked; a value that passes
// is kept (written only when it differs from the kept one), one that
// fails leaves the kept one and is reported; a deleted key, or one no
// schema governs any more, loses its kept value. A change of a schema, or
// a feed that overflowed, rescans the whole KV table in one transaction.
// Keeper reports the keys that break their schema, with the rules, at
// start and whenever that set changes: the agent turns it into the check
// edgeplane:config of its own service.
package schema
