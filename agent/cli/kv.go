package cli

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/edgeplane/edgeplane/agent/api"
)

// exportEntry is the format of kv export and kv import, as Consul's.
type exportEntry struct {
	Key   string `json:"key"`
	Flags uint64 `json:"flags"`
	Value string `json:"value"` // base64
}

// trimSlash strips one leading "/" from a key, as Consul's kv get and kv
// delete do: keys never start with one, but users write "/app/x".
func trimSlash(key string) string { return strings.TrimPrefix(key, "/") }

type kvPutCmd struct {
	flags    uint64
	cas      bool
	modIndex uint64
}

func (*kvPutCmd) spec() spec {
	return spec{args: "KEY [VALUE]", minArgs: 1, maxArgs: 2, agent: true, help: `
Writes VALUE under KEY. VALUE "-" reads standard input, "@FILE" reads a file;
with no VALUE the key holds an empty value. KEY must not begin with "/".`}
}

func (c *kvPutCmd) define(fs *flag.FlagSet) {
	fs.Uint64Var(&c.flags, "flags", 0, "opaque flags stored with the key")
	fs.BoolVar(&c.cas, "cas", false, "write only if the key's modify index equals -modify-index (0: only if the key does not exist)")
	fs.Uint64Var(&c.modIndex, "modify-index", 0, "index for -cas")
}

func (c *kvPutCmd) run(e *env) int {
	key := e.arg(0)
	if strings.HasPrefix(key, "/") {
		// Consul's words: a key never starts with "/".
		return fail(e, "Failed writing data: Invalid key. Key must not begin with a '/': %s", key)
	}
	value, err := readValue(e, e.arg(1))
	if err != nil {
		return fail(e, "%v", err)
	}
	p := api.KVPair{Key: key, Value: value, Flags: c.flags, ModifyIndex: c.modIndex}
	if c.cas {
		ok, err := e.client.KV().CAS(e.ctx, p)
		if err != nil {
			return fail(e, "writing %q: %v", key, err)
		}
		if !ok {
			return fail(e, "did not write %q: modify index %d does not match", key, c.modIndex)
		}
	} else if err := e.client.KV().Put(e.ctx, p); err != nil {
		return fail(e, "writing %q: %v", key, err)
	}
	fmt.Fprintf(e.Stdout, "Success! Data written to: %s\n", key)
	return 0
}

func readValue(e *env, arg string) ([]byte, error) {
	switch {
	case arg == "-":
		return readAllLimit(e.Stdin)
	case strings.HasPrefix(arg, "@"):
		f, err := os.Open(arg[1:])
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readAllLimit(f)
	default:
		return []byte(arg), nil
	}
}

// readAllLimit reads at most 16 MiB: more than the API accepts, so the
// agent answers with its own size error.
func readAllLimit(r io.Reader) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, 16<<20))
}

type kvGetCmd struct{ recurse, detailed bool }

func (*kvGetCmd) spec() spec {
	return spec{args: "KEY", maxArgs: 1, agent: true, help: `
Prints the value of KEY. With -recurse, prints KEY:VALUE for every key
under the prefix KEY. One leading "/" of KEY is ignored.`}
}

func (c *kvGetCmd) define(fs *flag.FlagSet) {
	fs.BoolVar(&c.recurse, "recurse", false, "read every key under the prefix")
	fs.BoolVar(&c.detailed, "detailed", false, "print the key's indexes and flags too")
}

func (c *kvGetCmd) run(e *env) int {
	if len(e.args) == 0 && !c.recurse {
		return fail(e, "kv get takes exactly one KEY")
	}
	key := trimSlash(e.arg(0))
	var pairs []api.KVPair
	if c.recurse {
		var err error
		if pairs, err = e.client.KV().List(e.ctx, key); err != nil {
			return fail(e, "reading %q: %v", key, err)
		}
	} else {
		p, err := e.client.KV().Get(e.ctx, key)
		if err != nil {
			return fail(e, "reading %q: %v", key, err)
		}
		if p == nil {
			return fail(e, "No key exists at: %s", key)
		}
		pairs = []api.KVPair{*p}
	}
	for _, p := range pairs {
		switch {
		case c.detailed:
			fmt.Fprintf(e.Stdout, "CreateIndex      %d\nFlags            %d\nKey              %s\nLockIndex        %d\nModifyIndex      %d\nValue            %s\n",
				p.CreateIndex, p.Flags, p.Key, p.LockIndex, p.ModifyIndex, p.Value)
		case c.recurse:
			fmt.Fprintf(e.Stdout, "%s:%s\n", p.Key, p.Value)
		default:
			fmt.Fprintf(e.Stdout, "%s\n", p.Value)
		}
	}
	return 0
}

type kvDeleteCmd struct {
	recurse, cas bool
	modIndex     uint64
}

func (*kvDeleteCmd) spec() spec {
	return spec{args: "KEY", maxArgs: 1, agent: true, help: `
Deletes KEY, or with -recurse every key under the prefix KEY. One leading
"/" of KEY is ignored.`}
}

func (c *kvDeleteCmd) define(fs *flag.FlagSet) {
	fs.BoolVar(&c.recurse, "recurse", false, "delete every key under the prefix")
	fs.BoolVar(&c.cas, "cas", false, "delete only if the key's modify index equals -modify-index")
	fs.Uint64Var(&c.modIndex, "modify-index", 0, "index for -cas")
}

func (c *kvDeleteCmd) run(e *env) int {
	if len(e.args) == 0 && !c.recurse {
		return fail(e, "kv delete takes exactly one KEY")
	}
	if c.cas && c.recurse {
		return fail(e, "-cas and -recurse cannot be combined")
	}
	key := trimSlash(e.arg(0))
	kv := e.client.KV()
	var err error
	switch {
	case c.recurse:
		err = kv.DeleteTree(e.ctx, key)
	case c.cas:
		var ok bool
		if ok, err = kv.DeleteCAS(e.ctx, key, c.modIndex); err == nil && !ok {
			return fail(e, "did not delete %q: modify index %d does not match", key, c.modIndex)
		}
	default:
		err = kv.Delete(e.ctx, key)
	}
	if err != nil {
		return fail(e, "deleting %q: %v", key, err)
	}
	fmt.Fprintf(e.Stdout, "Success! Deleted key: %s\n", key)
	return 0
}

type kvListCmd struct{ separator string }

func (*kvListCmd) spec() spec {
	return spec{args: "[PREFIX]", maxArgs: 1, agent: true, help: "Prints the keys under PREFIX, one a line."}
}

func (c *kvListCmd) define(fs *flag.FlagSet) {
	fs.StringVar(&c.separator, "separator", "", `list keys only up to this separator after the prefix (e.g. "/")`)
}

func (c *kvListCmd) run(e *env) int {
	keys, err := e.client.KV().Keys(e.ctx, e.arg(0), c.separator)
	if err != nil {
		return fail(e, "listing %q: %v", e.arg(0), err)
	}
	for _, k := range keys {
		fmt.Fprintln(e.Stdout, k)
	}
	return 0
}

type kvExportCmd struct{ noFlags }

func (*kvExportCmd) spec() spec {
	return spec{args: "[PREFIX]", maxArgs: 1, agent: true, help: `
Prints every key under PREFIX as a JSON array of {"key", "flags", "value"}
objects, value in base64: the format of "consul kv export", read back by
"edgeplane kv import".`}
}

func (*kvExportCmd) run(e *env) int {
	pairs, err := e.client.KV().List(e.ctx, e.arg(0))
	if err != nil {
		return fail(e, "exporting %q: %v", e.arg(0), err)
	}
	out := make([]exportEntry, len(pairs))
	for i, p := range pairs {
		out[i] = exportEntry{Key: p.Key, Flags: p.Flags, Value: base64.StdEncoding.EncodeToString(p.Value)}
	}
	b, _ := json.MarshalIndent(out, "", "\t")
	fmt.Fprintf(e.Stdout, "%s\n", b)
	return 0
}

// invalidUTF8At returns the offset of the first byte of b that is not
// part of valid UTF-8.
func invalidUTF8At(b []byte) int {
	i := 0
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return i
}

type kvImportCmd struct{ prefix string }

func (*kvImportCmd) spec() spec {
	return spec{args: "[FILE | - | @FILE]", maxArgs: 1, agent: true, help: `
Writes every key of a JSON array written by "edgeplane kv export" (or
"consul kv export"). Reads standard input when no file is given.`}
}

func (c *kvImportCmd) define(fs *flag.FlagSet) {
	fs.StringVar(&c.prefix, "prefix", "", "prepend this to every imported key")
}

func (c *kvImportCmd) run(e *env) int {
	src := strings.TrimPrefix(e.arg(0), "@")
	r := e.Stdin
	if src != "" && src != "-" {
		f, err := os.Open(src)
		if err != nil {
			return fail(e, "%v", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return fail(e, "reading import data: %v", err)
	}
	// JSON is UTF-8 text; the decoder would quietly turn a key's invalid
	// bytes into U+FFFD and write another key.
	if !utf8.Valid(data) {
		i := invalidUTF8At(data)
		return fail(e, "reading import data: not valid UTF-8 at byte %d (keys must be valid UTF-8); nothing imported", i)
	}
	if !utf8.ValidString(c.prefix) {
		return fail(e, "-prefix %q: keys must be valid UTF-8; nothing imported", c.prefix)
	}
	var entries []exportEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return fail(e, "reading import data: %v", err)
	}
	pairs := make([]api.KVPair, len(entries))
	for i, en := range entries {
		value, err := base64.StdEncoding.DecodeString(en.Value)
		if err != nil {
			return fail(e, "entry %d (%q): value is not base64: %v", i, en.Key, err)
		}
		if en.Key == "" {
			return fail(e, "entry %d: empty key", i)
		}
		pairs[i] = api.KVPair{Key: c.prefix + en.Key, Flags: en.Flags, Value: value}
	}
	for i, p := range pairs {
		if err := e.client.KV().Put(e.ctx, p); err != nil {
			return fail(e, "importing %q (%d of %d written): %v", p.Key, i, len(pairs), err)
		}
		fmt.Fprintf(e.Stdout, "Imported: %s\n", p.Key)
	}
	return 0
}
