package catalog

import (
	"io"
	"log/slog"
	"testing"
)

// An agent check set, then removed, leaves a tombstone of its record;
// RemoveAgentCheck refuses other checks and ignores unknown ones.
func TestRemoveAgentCheck(t *testing.T) {
	st := openStore(t, t.TempDir())
	c, err := New(Config{Store: st, Node: node, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Services: []Registration{
		{Source: SourceConfig, Service: Instance{ID: AgentServiceID, Name: AgentServiceID, Weights: DefaultWeights}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	register(t, c, `{"Name":"web","Check":{"CheckID":"web-ttl","TTL":"30s"}}`, false)
	if err := c.SetAgentCheck("edgeplane:render:a", "Render a", StatusPassing, "ok"); err != nil {
		t.Fatal(err)
	}
	if _, live := recordCheck(t, st, "edgeplane:render:a"); !live {
		t.Fatal("no record")
	}
	if err := c.RemoveAgentCheck("edgeplane:render:a"); err != nil {
		t.Fatal(err)
	}
	if _, live := recordCheck(t, st, "edgeplane:render:a"); live {
		t.Fatal("the record stays")
	}
	if _, ok := c.CheckByID("edgeplane:render:a"); ok {
		t.Fatal("the check stays")
	}
	if err := c.RemoveAgentCheck("web-ttl"); err == nil {
		t.Fatal("removed a service's check")
	}
	if err := c.RemoveAgentCheck("nonexistent"); err != nil {
		t.Fatal(err)
	}
}
