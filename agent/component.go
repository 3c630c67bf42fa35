package agent

import (
	"context"
	"fmt"
	"slices"
)

// component is one part of the agent: the store, gossip, RPC,
// replication, the HTTP API, supervision. Its constructor acquires what
// it holds (files, ports) and takes what it needs of the components built
// before it; nothing runs until Start.
type component interface {
	// Start begins the component's work and returns; the work runs until
	// Close. ctx bounds the start only.
	Start(ctx context.Context) error
	// Close stops the work and waits for it, then releases what the
	// constructor acquired. It is called once, whether or not Start was,
	// after the components started later have closed.
	Close() error
}

// add appends c to the components, in the order New builds them: Run
// starts them in this order and closes them in reverse.
func (a *Agent) add(c component) { a.components = append(a.components, c) }

// start starts the components in order. When one fails, those before it
// stay started: close stops them.
func (a *Agent) start(ctx context.Context) error {
	for _, c := range a.components {
		if err := c.Start(ctx); err != nil {
			return fmt.Errorf("agent: starting %T: %w", c, err)
		}
	}
	return nil
}

// close closes every component in reverse order, then forgets them.
func (a *Agent) close() {
	for _, c := range slices.Backward(a.components) {
		if err := c.Close(); err != nil {
			a.log.Error("stopping the agent", "component", fmt.Sprintf("%T", c), "err", err)
		}
	}
	a.components = nil
	a.stop(nil)
}
