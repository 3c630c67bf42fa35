package httpapi

import (
	"net/http"
	"sync/atomic"

	"github.com/edgeplane/edgeplane/agent/api"
)

// ReloadReport is the answer to PUT /v1/agent/reload.
type ReloadReport = api.ReloadReport

// reloader runs a reload for PUT /v1/agent/reload.
type reloader = func() (ReloadReport, error)

// SetReload sets what PUT /v1/agent/reload runs. Until it is set the
// endpoint answers 500: reload is not available.
func (a *API) SetReload(fn func() (ReloadReport, error)) {
	a.reload.Store(&fn)
}

// handleReload re-reads the agent's configuration, as Consul's endpoint of
// the same name does. It answers 200 with a ReloadReport, or 500 with the
// reason the new configuration was rejected (the running one stays).
func (a *API) handleReload(w http.ResponseWriter, r *http.Request) {
	fn := a.reload.Load()
	if fn == nil {
		http.Error(w, "reload is not available", http.StatusInternalServerError)
		return
	}
	rep, err := (*fn)()
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
	writeJSON(w, rep)
}

// reloadFunc holds the reloader; its zero value holds none.
type reloadFunc = atomic.Pointer[reloader]
