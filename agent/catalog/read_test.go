package catalog

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

func putRecord(t *testing.T, st *store.Store, key string, value []byte, del bool) {
	t.Helper()
	err := st.Update(func(tx *store.Tx) error {
		var err error
		if del {
			_, err = tx.Delete(Table, key)
		} else {
			_, err = tx.Put(Table, key, value, 0)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Read orders by node name then ID (not by key: "a-b/" sorts before
// "a/"), skips tombstones, and skips and counts malformed records.
func TestRead(t *testing.T) {
	st := openStore(t, t.TempDir())
	inst := func(id string) []byte {
		b, err := EncodeInstance(&Instance{ID: id, Name: "web", Weights: DefaultWeights})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	chk, _ := EncodeCheck(&Check{ID: "c1", Name: "c1", ServiceID: "w2", Type: CheckTypeTTL, Status: StatusPassing})
	orphan, _ := EncodeCheck(&Check{ID: "c2", Name: "c2", ServiceID: "none", Type: CheckTypeTTL, Status: StatusPassing})
	putRecord(t, st, ServiceKey("a-b", "w1"), inst("w1"), false)
	putRecord(t, st, ServiceKey("a", "w2"), inst("w2"), false)
	putRecord(t, st, ServiceKey("a", "w1"), inst("w1"), false)
	putRecord(t, st, ServiceKey("a", "gone"), inst("gone"), false)
	putRecord(t, st, ServiceKey("a", "gone"), nil, true)
	putRecord(t, st, ServiceKey("a", "bad"), []byte("not cbor"), false)
	putRecord(t, st, ServiceKey("a", "other"), inst("w3"), false)
	putRecord(t, st, CheckKey("a", "c1"), chk, false)
	putRecord(t, st, CheckKey("a", "c2"), orphan, false)
	putRecord(t, st, "svc/nonode", inst("x"), false)

	snap, err := Read(t.Context(), st, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range snap.Instances {
		got = append(got, in.Node+"/"+in.ID)
	}
	if fmt.Sprint(got) != "[a/w1 a/w2 a-b/w1]" || snap.Malformed != 4 || len(snap.Checks) != 1 ||
		snap.Checks[0].ServiceName != "web" || snap.Index < snap.TableIndex || snap.TableIndex == 0 {
		t.Fatalf("Read = %v, %d malformed, checks %+v, index %d/%d", got, snap.Malformed, snap.Checks, snap.Index, snap.TableIndex)
	}
	if len(snap.Tombstones) != 1 || snap.Tombstones[0].Node != "a" || snap.Tombstones[0].ID != "gone" ||
		snap.Tombstones[0].Check || snap.Tombstones[0].Index == 0 || snap.Tombstones[0].Index > snap.TableIndex {
		t.Fatalf("Tombstones = %+v, want a/gone's", snap.Tombstones)
	}

	// A blocking read waits past a KV write, and wakes on a change of
	// the table.
	done := make(chan Snapshot, 1)
	go func() {
		s, _ := Read(t.Context(), st, snap.Index)
		done <- s
	}()
	if _, err := st.Put("kv/key", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	putRecord(t, st, ServiceKey("b", "w9"), inst("w9"), false)
	select {
	case s := <-done:
		if s.TableIndex <= snap.Index || len(s.Instances) != 4 {
			t.Fatalf("woken read: table index %d after %d, %d instances", s.TableIndex, snap.Index, len(s.Instances))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the blocking read did not wake")
	}

	// A read whose context ends answers what is there.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if s, err := Read(ctx, st, snap.Index+1000); err != nil || len(s.Instances) != 4 {
		t.Fatalf("read after its context ended: %d instances, %v", len(s.Instances), err)
	}
}

// A Reader answers its kept Snapshot while the store does not change,
// and reads again after any write.
func TestReaderKeepsSnapshot(t *testing.T) {
	st := openStore(t, t.TempDir())
	inst, err := EncodeInstance(&Instance{ID: "w1", Name: "web", Weights: DefaultWeights})
	if err != nil {
		t.Fatal(err)
	}
	putRecord(t, st, ServiceKey("a", "w1"), inst, false)
	r := NewReader(st)
	first, err := r.Read(t.Context(), 0)
	if err != nil || len(first.Instances) != 1 {
		t.Fatalf("Read = %+v, %v", first, err)
	}
	again, _ := r.Read(t.Context(), 0)
	if &again.Instances[0] != &first.Instances[0] {
		t.Fatal("an unchanged store was read again")
	}
	if _, err := st.Put("kv/x", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	afterKV, _ := r.Read(t.Context(), 0)
	if &afterKV.Instances[0] == &first.Instances[0] || afterKV.TableIndex != first.TableIndex {
		t.Fatal("a write did not make the Reader read again, or changed the table's index")
	}
	putRecord(t, st, ServiceKey("a", "w1"), nil, true)
	gone, _ := r.Read(t.Context(), 0)
	if len(gone.Instances) != 0 || gone.TableIndex <= first.TableIndex {
		t.Fatalf("after the removal: %+v", gone)
	}
}
