package cli

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

var kvCommands = map[string]command{
	"put":    {"Write a key", kvPut},
	"get":    {"Read a key or a prefix", kvGet},
	"delete": {"Delete a key or a prefix", kvDelete},
	"list":   {"List the keys under a prefix", kvList},
	"export": {"Export keys under a prefix as JSON", kvExport},
	"import": {"Import keys from JSON written by export", kvImport},
	"watch":  {"Print each change under a prefix as it arrives", kvWatch},
}

func runKV(std IO, args []string) int {
	if len(args) == 0 || isHelp(args[0]) {
		w := std.Stderr
		if len(args) > 0 {
			w = std.Stdout
		}
		fmt.Fprintln(w, "Usage: edgeplane kv <subcommand> [options] [args]")
		fmt.Fprintln(w, "\nSubcommands:")
		for _, n := range []string{"put", "get", "delete", "list", "export", "import", "watch"} {
			fmt.Fprintf(w, "    %-8s %s\n", n, kvCommands[n].synopsis)
		}
		return boolCode(len(args) > 0)
	}
	cmd, ok := kvCommands[args[0]]
	if !ok {
		return fail(std, "unknown kv subcommand %q (put, get, delete, list, export, import, watch)", args[0])
	}
	return cmd.run(std, args[1:])
}

// kvEntry is one key as the API returns it.
type kvEntry struct {
	Key         string
	Flags       uint64
	Value       []byte
	CreateIndex uint64
	ModifyIndex uint64
	LockIndex   uint64
}

// exportEntry is the format of kv export and kv import, as Consul's.
type exportEntry struct {
	Key   string `json:"key"`
	Flags uint64 `json:"flags"`
	Value string `json:"value"` // base64
}

func kvPut(std IO, args []string) int {
	fs := newFlagSet(std, "kv put", "KEY [VALUE]", `
Writes VALUE under KEY. VALUE "-" reads standard input, "@FILE" reads a file;
with no VALUE the key holds an empty value.`)
	addr := addHTTPFlag(std, fs)
	flags := fs.Uint64("flags", 0, "opaque flags stored with the key")
	cas := fs.Bool("cas", false, "write only if the key's modify index equals -modify-index (0: only if the key does not exist)")
	modIndex := fs.Uint64("modify-index", 0, "index for -cas")
	if code, done := parse(std, fs, args); done {
		return code
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return fail(std, "kv put takes KEY [VALUE], got %d arguments", fs.NArg())
	}
	key := fs.Arg(0)
	value, err := readValue(std, fs.Arg(1))
	if err != nil {
		return fail(std, "%v", err)
	}
	q := url.Values{}
	if *flags != 0 {
		q.Set("flags", strconv.FormatUint(*flags, 10))
	}
	if *cas {
		q.Set("cas", strconv.FormatUint(*modIndex, 10))
	}
	body, err := newClient(*addr).do(http.MethodPut, kvPath(key), q, value, false)
	if err != nil {
		return fail(std, "writing %q: %v", key, err)
	}
	if strings.TrimSpace(string(body)) != "true" {
		return fail(std, "did not write %q: modify index %d does not match", key, *modIndex)
	}
	fmt.Fprintf(std.Stdout, "Success! Data written to: %s\n", key)
	return 0
}

func readValue(std IO, arg string) ([]byte, error) {
	switch {
	case arg == "-":
		b, err := readAllLimit(std.Stdin)
		return b, err
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

func kvGet(std IO, args []string) int {
	fs := newFlagSet(std, "kv get", "KEY", `
Prints the value of KEY. With -recurse, prints KEY:VALUE for every key
under the prefix KEY.`)
	addr := addHTTPFlag(std, fs)
	recurse := fs.Bool("recurse", false, "read every key under the prefix")
	detailed := fs.Bool("detailed", false, "print the key's indexes and flags too")
	if code, done := parse(std, fs, args); done {
		return code
	}
	if fs.NArg() != 1 && !(*recurse && fs.NArg() == 0) {
		return fail(std, "kv get takes exactly one KEY")
	}
	key := fs.Arg(0)
	q := url.Values{}
	if *recurse {
		q.Set("recurse", "")
	}
	var entries []kvEntry
	found, err := newClient(*addr).getJSON(kvPath(key), q, &entries)
	if err != nil {
		return fail(std, "reading %q: %v", key, err)
	}
	if !found || len(entries) == 0 {
		if *recurse {
			return 0
		}
		return fail(std, "No key exists at: %s", key)
	}
	for _, e := range entries {
		switch {
		case *detailed:
			fmt.Fprintf(std.Stdout, "CreateIndex      %d\nFlags            %d\nKey              %s\nLockIndex        %d\nModifyIndex      %d\nValue            %s\n",
				e.CreateIndex, e.Flags, e.Key, e.LockIndex, e.ModifyIndex, e.Value)
		case *recurse:
			fmt.Fprintf(std.Stdout, "%s:%s\n", e.Key, e.Value)
		default:
			fmt.Fprintf(std.Stdout, "%s\n", e.Value)
		}
	}
	return 0
}

func kvDelete(std IO, args []string) int {
	fs := newFlagSet(std, "kv delete", "KEY", "Deletes KEY, or with -recurse every key under the prefix KEY.")
	addr := addHTTPFlag(std, fs)
	recurse := fs.Bool("recurse", false, "delete every key under the prefix")
	cas := fs.Bool("cas", false, "delete only if the key's modify index equals -modify-index")
	modIndex := fs.Uint64("modify-index", 0, "index for -cas")
	if code, done := parse(std, fs, args); done {
		return code
	}
	if fs.NArg() != 1 && !(*recurse && fs.NArg() == 0) {
		return fail(std, "kv delete takes exactly one KEY")
	}
	if *cas && *recurse {
		return fail(std, "-cas and -recurse cannot be combined")
	}
	key := fs.Arg(0)
	q := url.Values{}
	if *recurse {
		q.Set("recurse", "")
	}
	if *cas {
		q.Set("cas", strconv.FormatUint(*modIndex, 10))
	}
	body, err := newClient(*addr).do(http.MethodDelete, kvPath(key), q, nil, false)
	if err != nil {
		return fail(std, "deleting %q: %v", key, err)
	}
	if strings.TrimSpace(string(body)) != "true" {
		return fail(std, "did not delete %q: modify index %d does not match", key, *modIndex)
	}
	fmt.Fprintf(std.Stdout, "Success! Deleted key: %s\n", key)
	return 0
}

func kvList(std IO, args []string) int {
	fs := newFlagSet(std, "kv list", "[PREFIX]", "Prints the keys under PREFIX, one a line.")
	addr := addHTTPFlag(std, fs)
	sep := fs.String("separator", "", `list keys only up to this separator after the prefix (e.g. "/")`)
	if code, done := parse(std, fs, args); done {
		return code
	}
	if fs.NArg() > 1 {
		return fail(std, "kv list takes at most one PREFIX")
	}
	q := url.Values{"keys": {""}}
	if *sep != "" {
		q.Set("separator", *sep)
	}
	var keys []string
	if _, err := newClient(*addr).getJSON(kvPath(fs.Arg(0)), q, &keys); err != nil {
		return fail(std, "listing %q: %v", fs.Arg(0), err)
	}
	for _, k := range keys {
		fmt.Fprintln(std.Stdout, k)
	}
	return 0
}

func kvExport(std IO, args []string) int {
	fs := newFlagSet(std, "kv export", "[PREFIX]", `
Prints every key under PREFIX as a JSON array of {"key", "flags", "value"}
objects, value in base64: the format of "consul kv export", read back by
"edgeplane kv import".`)
	addr := addHTTPFlag(std, fs)
	if code, done := parse(std, fs, args); done {
		return code
	}
	if fs.NArg() > 1 {
		return fail(std, "kv export takes at most one PREFIX")
	}
	var entries []kvEntry
	if _, err := newClient(*addr).getJSON(kvPath(fs.Arg(0)), url.Values{"recurse": {""}}, &entries); err != nil {
		return fail(std, "exporting %q: %v", fs.Arg(0), err)
	}
	out := make([]exportEntry, len(entries))
	for i, e := range entries {
		out[i] = exportEntry{Key: e.Key, Flags: e.Flags, Value: base64.StdEncoding.EncodeToString(e.Value)}
	}
	b, _ := json.MarshalIndent(out, "", "\t")
	fmt.Fprintf(std.Stdout, "%s\n", b)
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

func kvImport(std IO, args []string) int {
	fs := newFlagSet(std, "kv import", "[FILE | - | @FILE]", `
Writes every key of a JSON array written by "edgeplane kv export" (or
"consul kv export"). Reads standard input when no file is given.`)
	addr := addHTTPFlag(std, fs)
	prefix := fs.String("prefix", "", "prepend this to every imported key")
	if code, done := parse(std, fs, args); done {
		return code
	}
	if fs.NArg() > 1 {
		return fail(std, "kv import takes at most one FILE")
	}
	src := strings.TrimPrefix(fs.Arg(0), "@")
	if src == "" {
		src = "-"
	}
	var r io.Reader = bufio.NewReader(std.Stdin)
	if src != "-" {
		f, err := os.Open(src)
		if err != nil {
			return fail(std, "%v", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return fail(std, "reading import data: %v", err)
	}
	// JSON is UTF-8 text; the decoder would quietly turn a key's invalid
	// bytes into U+FFFD and write another key.
	if !utf8.Valid(data) {
		i := invalidUTF8At(data)
		return fail(std, "reading import data: not valid UTF-8 at byte %d (keys must be valid UTF-8); nothing imported", i)
	}
	if !utf8.ValidString(*prefix) {
		return fail(std, "-prefix %q: keys must be valid UTF-8; nothing imported", *prefix)
	}
	var entries []exportEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return fail(std, "reading import data: %v", err)
	}
	values := make([][]byte, len(entries))
	for i, e := range entries {
		var err error
		if values[i], err = base64.StdEncoding.DecodeString(e.Value); err != nil {
			return fail(std, "entry %d (%q): value is not base64: %v", i, e.Key, err)
		}
		if e.Key == "" {
			return fail(std, "entry %d: empty key", i)
		}
	}
	c := newClient(*addr)
	for i, e := range entries {
		key := *prefix + e.Key
		q := url.Values{"flags": {strconv.FormatUint(e.Flags, 10)}}
		if _, err := c.do(http.MethodPut, kvPath(key), q, values[i], false); err != nil {
			return fail(std, "importing %q (%d of %d written): %v", key, i, len(entries), err)
		}
		fmt.Fprintf(std.Stdout, "Imported: %s\n", key)
	}
	return 0
}
