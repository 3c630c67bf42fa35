package replica

import (
	"slices"
	"testing"

	"github.com/edgeplane/edgeplane/gossip"
)

// listedMesh is a Membership that lists fixed members.
type listedMesh struct {
	Membership
	members []gossip.Member
}

func (m listedMesh) Members() []gossip.Member { return m.members }

// TestServiceRemembersUntilReaped: the members a Service's replica waits
// for before it collects a tombstone are every member gossip lists,
// whatever its status, failed and left ones included; peers are the live
// ones that announce an RPC address.
func TestServiceRemembersUntilReaped(t *testing.T) {
	rpc := map[string]string{gossip.MetaRPC: "127.0.0.1:1"}
	s := &Service{cfg: ServiceConfig{Self: "a", Mesh: listedMesh{members: []gossip.Member{
		{Name: "a", Status: gossip.StatusAlive, Tags: rpc},
		{Name: "b", Status: gossip.StatusAlive, Tags: rpc},
		{Name: "c", Status: gossip.StatusFailed, Tags: rpc},
		{Name: "d", Status: gossip.StatusLeft, Tags: rpc},
		{Name: "e", Status: gossip.StatusSuspect},
	}}}}
	if got := s.members(); !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
		t.Fatalf("remembered %v", got)
	}
	if got := s.peers(); len(got) != 1 || got[0].Name != "b" {
		t.Fatalf("peers %v", got)
	}
}
