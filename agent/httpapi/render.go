package httpapi

import (
	"context"
	"net/http"

	"github.com/edgeplane/edgeplane/agent/api"
)

// Renders is the agent's render blocks (package render).
type Renders interface {
	Status() []api.RenderStatus
	Once(ctx context.Context, dry bool) []api.RenderResult
}

// handleRenders serves the render blocks: GET /v1/edgeplane/render lists
// their status (agent:read), PUT /v1/edgeplane/render/once renders every
// block now, or with ?dry returns what each would write and writes
// nothing (agent:write: a render runs the blocks' commands, and dry shows
// the values the templates read).
func (a *API) handleRenders(rs Renders) {
	a.mux.HandleFunc("GET /v1/edgeplane/render", func(w http.ResponseWriter, r *http.Request) {
		out := rs.Status()
		if out == nil {
			out = []api.RenderStatus{}
		}
		writeJSON(w, out)
	})
	a.mux.HandleFunc("PUT /v1/edgeplane/render/once", func(w http.ResponseWriter, r *http.Request) {
		out := rs.Once(r.Context(), r.URL.Query().Has("dry"))
		if out == nil {
			out = []api.RenderResult{}
		}
		writeJSON(w, out)
	})
}
