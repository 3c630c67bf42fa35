package replica

import (
	"context"
	"testing"
)

// TestSyncDeferredCountedApart: a peer pulling a snapshot (a node that
// has just joined) puts anti-entropy off; that is counted as deferred,
// not refused. sync_refused keeps to the horizon and clock refusals.
func TestSyncDeferredCountedApart(t *testing.T) {
	tests := []struct {
		name                  string
		pulling, stale        bool
		wantDeferred, wantRef uint64
	}{
		{name: "peer pulling a snapshot", pulling: true, wantDeferred: 1},
		{name: "peer away past the horizon", stale: true, wantRef: 1},
		{name: "peer ready", wantDeferred: 0, wantRef: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSimNet(t, 3, 2)
			caller, peer := s.nodes["n0"], s.nodes["n1"]
			if _, err := caller.st.Put("k", []byte("v"), 0); err != nil {
				t.Fatal(err)
			}
			peer.r.pulling.Store(tt.pulling)
			peer.r.stale.Store(tt.stale)
			synced := caller.r.SyncRandom(context.Background())
			st := caller.r.Stats()
			if st.SyncDeferred != tt.wantDeferred || st.SyncRefused != tt.wantRef {
				t.Fatalf("deferred %d, refused %d; want %d, %d", st.SyncDeferred, st.SyncRefused, tt.wantDeferred, tt.wantRef)
			}
			if want := !tt.pulling && !tt.stale; synced != want || st.SyncFailures != 0 {
				t.Fatalf("synced %v (want %v), %d failures", synced, want, st.SyncFailures)
			}
			if got := peer.r.PeerStats(); len(got) != 0 {
				t.Fatalf("the peer noted syncs it only answered: %+v", got)
			}
			if tt.pulling {
				if ps := caller.r.PeerStats(); len(ps) != 1 || ps[0].LastResult != errDeferred.Error() {
					t.Fatalf("peer stats %+v, want the deferral as last result", ps)
				}
			}
		})
	}
}
