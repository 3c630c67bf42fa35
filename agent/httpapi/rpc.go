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
			a.fail(w, r, http.StatusNotFound, err)
		case err != nil:
			a.fail(w, r, http.StatusBadGateway, err)
		default:
			writeJSON(w, api.PingResult{Node: node, Addr: addr, RTT: rtt.String(), RTTNanos: rtt.Nanoseconds()})
		}
	})
}

// handleRevoke adds PUT /v1/edgeplane/revoke/<node|fingerprint> and
// GET /v1/edgeplane/revoked. Both need agent write permission.
func (a *API) handleRevoke(rv Revoker) {
	a.mux.HandleFunc("PUT /v1/edgeplane/revoke/{target}", func(w http.ResponseWriter, r *http.Request) {
		res, err := rv.Revoke(r.PathValue("target"))
		switch {
		case errors.Is(err, ErrUnknownNode):
			a.fail(w, r, http.StatusNotFound, err)
		case err != nil:
			a.fail(w, r, http.StatusBadRequest, err)
		default:
			writeJSON(w, res)
		}
	})
	a.mux.HandleFunc("GET /v1/edgeplane/revoked", func(w http.ResponseWriter, r *http.Request) {
		list, err := rv.Revoked()
		if err != nil {
			a.fail(w, r, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, list)
	})
}
