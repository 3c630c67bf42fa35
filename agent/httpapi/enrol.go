package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/jointoken"
)

// ErrNoJoinToken is returned by a JoinTokens role whose mesh has no
// gossip key to put in a token; the API answers 409 with its message.
var ErrNoJoinToken = errors.New("cannot make a join token")

// handleJoinTokens adds GET /v1/agent/join-token, edgeplane's own: a join
// token (package jointoken) for a new device, with the seeds given as
// ?seed=host:port (repeatable), else the ones j picks. It needs agent
// write: the token holds the gossip key (see routeNeeds).
func (a *API) handleJoinTokens(j JoinTokens) {
	a.mux.HandleFunc("GET /v1/agent/join-token", func(w http.ResponseWriter, r *http.Request) {
		seeds := r.URL.Query()["seed"]
		if len(seeds) > jointoken.MaxSeeds {
			a.fail(w, r, http.StatusBadRequest, fmt.Errorf("%d seeds, at most %d", len(seeds), jointoken.MaxSeeds))
			return
		}
		for _, s := range seeds {
			if err := jointoken.CheckSeed(s); err != nil {
				a.fail(w, r, http.StatusBadRequest, fmt.Errorf("seed: %w", err))
				return
			}
		}
		tok, err := j.JoinToken(seeds)
		if errors.Is(err, ErrNoJoinToken) {
			a.fail(w, r, http.StatusConflict, err)
			return
		}
		if err != nil {
			a.fail(w, r, http.StatusInternalServerError, fmt.Errorf("join token: %w", err))
			return
		}
		s, err := jointoken.Encode(tok)
		if err != nil {
			a.fail(w, r, http.StatusInternalServerError, fmt.Errorf("join token: %w", err))
			return
		}
		writeJSON(w, api.JoinToken{Token: s, Seeds: tok.Seeds})
	})
}
