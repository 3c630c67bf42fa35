package testutil

import (
	"testing"

	"github.com/edgeplane/edgeplane/store"
)

// OpenStore opens a store in a temporary directory, closed when the test
// ends.
func OpenStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
