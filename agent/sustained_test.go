package agent

import (
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/config"
)

// TestSustainedWritesDelivered: five agents whose gossip queues hold 64
// broadcasts take writes faster than gossip carries them. Nothing is
// dropped from a gossip queue, left behind by the pushes that take over
// or dropped from a full merge inbox, and every write is applied on every
// agent.
func TestSustainedWritesDelivered(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five agents under load")
	}
	agents := startMeshOfAgents(t, 5, func(_ int, c *config.Config) { c.MaxBroadcastQueue = 64 })
	res := writeLoad{rate: 200, dur: 5 * time.Second, drain: 90 * time.Second}.run(t, agents)
	t.Log(res)
	if res.skipped > 0 {
		t.Fatalf("the measuring subscriptions dropped %d changes", res.skipped)
	}
	if res.pruned != 0 || res.stats["push_left"] != 0 || res.stats["gossip_dropped"] != 0 {
		t.Errorf("dropped %d broadcasts from full gossip queues; pushes left %d records to anti-entropy; full inboxes dropped %d gossiped records",
			res.pruned, res.stats["push_left"], res.stats["gossip_dropped"])
	}
	if res.late != 0 {
		t.Errorf("%d of %d writes not applied on every agent", res.late, res.writes)
	}
	if res.stats["pushed"] == 0 {
		t.Error("no write was pushed: the load did not outrun gossip")
	}
}
