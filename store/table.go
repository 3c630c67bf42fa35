package store

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Tables. Every replicated record belongs to a table: TableKV, the
// key/value store the Consul-compatible API serves, or one declared with
// DeclareTable. The store treats every table alike: merge, digest,
// tombstones and their collection, snapshots and the change feed. A table
// NAME keeps its records in the bbolt bucket "t/NAME" and its digest index
// in "t/NAME/keys"; TableKV keeps its records in "kv" and its digest index
// in "keys". A store that holds only kv records has the digest it had
// before tables existed.

// TableKV is the key/value table: the zero Table of a Record. It is named
// "kv" in logs and may be sent as "kv" on the wire.
const TableKV = ""

// kvName is how TableKV is named where a name must not be empty.
const kvName = "kv"

// ErrUnknownTable reports a record, snapshot frame or request naming a
// table this binary does not declare.
var ErrUnknownTable = errors.New("store: unknown table")

// table is where a table's records, digest index and digest buckets live.
type table struct {
	name          string // TableKV for kv
	id            int    // position in the table order
	records, keys []byte // bbolt bucket names
	// Where releases that kept the digest buckets on disk kept them and
	// their index; Open removes them (see loadDigest).
	legacyIndex, legacyDigest []byte
}

var registry struct {
	mu     sync.Mutex
	names  []string // declared, besides kv
	frozen []*table // set by the first Open: kv first, then by name
}

// DeclareTable declares a replicated table and returns its name, for a
// package variable:
//
//	var Catalog = store.DeclareTable("catalog")
//
// A name is 1 to 64 bytes of lower-case ASCII letters, digits, '_' and
// '-', starting with a letter; "kv" is TableKV's. Declaring a name twice
// is harmless. Tables are declared before they are first used (a store
// opened, a record or table checked), as package variables are:
// DeclareTable panics after that, and on an invalid name.
func DeclareTable(name string) string {
	if err := checkName(name); err != nil || name == kvName {
		panic(fmt.Sprintf("store: DeclareTable(%q): not a table name", name))
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.frozen != nil {
		panic(fmt.Sprintf("store: DeclareTable(%q) after the tables were first used", name))
	}
	if !slices.Contains(registry.names, name) {
		registry.names = append(registry.names, name)
	}
	return name
}

// Tables returns the tables records may belong to: TableKV first, then the
// declared tables by name. Bootstrap and snapshots go through them in this
// order.
func Tables() []string {
	tbs := tables()
	out := make([]string, len(tbs))
	for i, tb := range tbs {
		out[i] = tb.name
	}
	return out
}

// tables returns the table order, fixing it at the first call.
func tables() []*table {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.frozen == nil {
		names := slices.Sorted(slices.Values(registry.names))
		registry.frozen = []*table{{name: TableKV, records: bucketKV, keys: bucketKeys, legacyIndex: bucketIndex, legacyDigest: bucketDigest}}
		for i, n := range names {
			registry.frozen = append(registry.frozen, &table{name: n, id: i + 1,
				records: []byte("t/" + n), keys: []byte("t/" + n + "/keys"),
				legacyIndex: []byte("t/" + n + "/index"), legacyDigest: []byte("t/" + n + "/digest")})
		}
	}
	return registry.frozen
}

// lookupTable returns the table named name ("kv" names TableKV too).
func lookupTable(name string) (*table, error) {
	name = canonicalTable(name)
	for _, tb := range tables() {
		if tb.name == name {
			return tb, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownTable, name)
}

// CheckTable returns the canonical name of a table this binary declares
// (TableKV for "kv"), or an error wrapping ErrUnknownTable.
func CheckTable(name string) (string, error) {
	tb, err := lookupTable(name)
	if err != nil {
		return "", err
	}
	return tb.name, nil
}

// TableName returns how a table is named in logs and messages: "kv" for
// TableKV.
func TableName(table string) string {
	if table == TableKV {
		return kvName
	}
	return table
}

// CompareTables orders tables as Tables lists them: TableKV first, then by
// name. Unknown tables order by name among the others.
func CompareTables(a, b string) int {
	a, b = canonicalTable(a), canonicalTable(b)
	switch {
	case a == b:
		return 0
	case a == TableKV:
		return -1
	case b == TableKV:
		return 1
	case a < b:
		return -1
	}
	return 1
}

// canonicalTable maps "kv" to TableKV.
func canonicalTable(name string) string {
	if name == kvName {
		return TableKV
	}
	return name
}

// checkName checks a table's or a local bucket's name.
func checkName(name string) error {
	if name == "" || len(name) > 64 || name[0] < 'a' || name[0] > 'z' {
		return fmt.Errorf("store: bad name %q", name)
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("store: bad name %q", name)
		}
	}
	return nil
}
