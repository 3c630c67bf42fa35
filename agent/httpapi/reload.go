package httpapi

import (
	"net/http"

	"github.com/edgeplane/edgeplane/agent/api"
)

// ReloadReport is the answer to PUT /v1/agent/reload.
type ReloadReport = api.ReloadReport

// handleReload re-reads the agent's configuration, as Consul's endpoint of
// the same name does. It answers 200 with a ReloadReport, or 500 with the
// reason the new configuration was rejected (the running one stays).
func (a *API) handleReload(w http.ResponseWriter, r *http.Request) {
	if a.reload == nil {
		http.Error(w, "reload is not available", http.StatusInternalServerError)
		return
	}
	rep, err := a.reload.Reload()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if rep.Applied == nil {
		rep.Applied = []string{}
	}
	if rep.RestartRequired == nil {
		rep.RestartRequired = []string{}
	}
	if rep.Rejected == nil {
		rep.Rejected = []api.ReloadRejection{}
	}
	writeJSON(w, rep)
}
