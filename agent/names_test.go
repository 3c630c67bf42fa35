package agent

import (
	"context"
	"errors"
	"testing"

	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
)

// TestNameBindings: a name belongs to the first certificate it came with,
// across restarts, until it is pruned; with enforcement off (fleet CA) any
// certificate may carry it.
func TestNameBindings(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := newNameBindings(st, true, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	n.Start(context.Background())
	fp := func(s string) map[string]string { return map[string]string{gossip.MetaFingerprint: s} }
	if err := n.admit("gw", fp("aa")); err != nil {
		t.Fatal(err)
	}
	if err := n.admit("gw", fp("aa")); err != nil {
		t.Fatalf("the owner refused its own name: %v", err)
	}
	if err := n.admit("gw", fp("bb")); !errors.Is(err, errNameTaken) {
		t.Fatalf("another certificate took the name: %v", err)
	}
	if err := n.admit("gw", map[string]string{}); !errors.Is(err, errNameTaken) {
		t.Fatalf("a node announcing no certificate was admitted: %v", err)
	}
	n.Close()
	st.Close()

	// The binding outlives a restart.
	if st, err = store.Open(dir, store.Options{}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err = newNameBindings(st, true, discardLog()); err != nil {
		t.Fatal(err)
	}
	n.Start(context.Background())
	defer n.Close()
	if err := n.admit("gw", fp("bb")); !errors.Is(err, errNameTaken) {
		t.Fatalf("after a restart another certificate took the name: %v", err)
	}
	// A prune frees the name from aa only.
	if err := n.prune("gw"); err != nil {
		t.Fatal(err)
	}
	if err := n.admit("gw", fp("bb")); err != nil {
		t.Fatalf("the pruned name was refused to a new certificate: %v", err)
	}
	if err := n.admit("gw", fp("cc")); !errors.Is(err, errNameTaken) {
		t.Fatalf("a prune of aa freed the name from bb too: %v", err)
	}

	open, err := newNameBindings(st, false, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := open.admit("gw", fp("dd")); err != nil {
		t.Fatalf("fleet-CA mode refused a name: %v", err)
	}
}
