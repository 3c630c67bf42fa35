package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// RenderStatus is a render block's state, as GET /v1/edgeplane/render
// lists them.
type RenderStatus struct {
	Name        string
	Destination string
	// Health and Output are the check edgeplane:render:<name>'s.
	Health string
	Output string
	// LastRender is when the destination was last found or made to hold
	// the render; LastChange when it was last replaced.
	LastRender time.Time `json:",omitzero"`
	LastChange time.Time `json:",omitzero"`
	// Checksum is the SHA-256 of the last render applied, in hex.
	Checksum string `json:",omitempty"`
	// StoreIndex is the store's index the last render read.
	StoreIndex uint64 `json:",omitempty"`
	// ReplicaSynced is when the replica the last render read last
	// completed a sync with a peer (zero: never, or a single node):
	// how old, at worst, what it rendered is.
	ReplicaSynced time.Time `json:",omitzero"`
	// LastError and LastErrorStage are the last failure's; LastErrorAt
	// its time.
	LastError      string    `json:",omitempty"`
	LastErrorStage string    `json:",omitempty"`
	LastErrorAt    time.Time `json:",omitzero"`
	// WaitingFor names what holds the block: keys, or the first sync.
	WaitingFor []string `json:",omitempty"`
	// LastGood names the keys served their last good value, with the
	// rule their stored value breaks.
	LastGood []string `json:",omitempty"`
	// LastRollback is when a failed check or reload last put the
	// previous file back.
	LastRollback time.Time `json:",omitzero"`
	// Renders counts the template's executions, Writes the destination's
	// replacements.
	Renders, Writes uint64
}

// RenderResult is a block's result of PUT /v1/edgeplane/render/once: its
// status after the render, and with dry the bytes it would write.
type RenderResult struct {
	RenderStatus
	// Content is the render, with dry; empty when the block could not
	// render.
	Content []byte `json:",omitempty"`
}

// RenderStatus lists the local agent's render blocks and their state.
func (c *Client) RenderStatus(ctx context.Context) ([]RenderStatus, error) {
	var out []RenderStatus
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/edgeplane/render"}, &out)
	return out, err
}

// RenderOnce renders every block of the local agent now; with dry it
// writes nothing and returns what each would write.
func (c *Client) RenderOnce(ctx context.Context, dry bool) ([]RenderResult, error) {
	q := url.Values{}
	if dry {
		q.Set("dry", "")
	}
	var out []RenderResult
	err := c.do(ctx, request{method: http.MethodPut, path: "/v1/edgeplane/render/once", query: q}, &out)
	return out, err
}
