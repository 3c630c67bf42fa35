package gossip

import (
	"fmt"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/gossip/faultnet"
)

func TestRTTAverage(t *testing.T) {
	var r rtts
	if _, ok := r.get("a"); ok {
		t.Fatal("an unprobed node has an RTT")
	}
	r.observe("a", 10*time.Millisecond)
	if d, _ := r.get("a"); d != 10*time.Millisecond {
		t.Fatalf("first probe: %v, want 10ms", d)
	}
	r.observe("a", 20*time.Millisecond)
	if d, _ := r.get("a"); d != 12*time.Millisecond {
		t.Fatalf("after 20ms: %v, want 12ms (weight 0.2)", d)
	}
	r.observe("a", -time.Second)
	if d, _ := r.get("a"); d != 12*time.Millisecond {
		t.Fatalf("a negative RTT moved the average to %v", d)
	}
}

// TestMeshRTT: probes between two members give each a round trip to the
// other; this node is 0 and a stranger has none.
func TestMeshRTT(t *testing.T) {
	nodes := startMesh(t, "rtt-", 2, faultnet.New(1), nil)
	Eventually(t, 30*time.Second, func() error {
		for i, n := range nodes {
			other := nodes[1-i].cfg.NodeName
			if d, ok := n.RTT(other); !ok || d < 0 {
				return fmt.Errorf("%s has no round trip to %s yet (%v, %v)", n.cfg.NodeName, other, d, ok)
			}
		}
		return nil
	})
	if d, ok := nodes[0].RTT(nodes[0].cfg.NodeName); !ok || d != 0 {
		t.Fatalf("RTT to itself = %v, %v; want 0", d, ok)
	}
	if _, ok := nodes[0].RTT("stranger"); ok {
		t.Fatal("a stranger has a round trip")
	}
}
