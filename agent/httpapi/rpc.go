package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
)

// ErrUnknownNode is returned by a Pinger for a node that is not a live
// member; the API answers 404.
var ErrUnknownNode = errors.New("unknown node")

// pingTimeout bounds one ping, retries included.
const pingTimeout = 15 * time.Second

// handlePing adds GET /v1/edgeplane/rpc/ping/<node>.
func (a *API) handlePing(p Pinger) {
	a.mux.HandleFunc("GET /v1/edgeplane/rpc/ping/{node}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), pingTimeout)
		defer cancel()
		node := r.PathValue("node")
		addr, rtt, err := p.Ping(ctx, node)
		switch {
		case errors.Is(err, ErrUnknownNode):
			a.fail(w, http.StatusNotFound, err)
		case err != nil:
			a.fail(w, http.StatusBadGateway, err)
		default:
			writeJSON(w, api.PingResult{Node: node, Addr: addr, RTT: rtt.String(), RTTNanos: rtt.Nanoseconds()})
		}
	})
}
