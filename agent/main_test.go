package agent

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a goroutine outlives the tests. memberlist's
// probe of a node may still be waiting out its probe interval when the
// last test's mesh has shut down (memberlist does not interrupt it); it
// ends on its own, and a mesh left running would show memberlist's other
// goroutines, which are still checked.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}
