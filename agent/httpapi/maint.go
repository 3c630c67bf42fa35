package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/edgeplane/edgeplane/agent/acl"
)

// handleMaintenance adds Consul's maintenance endpoints:
//
//	PUT /v1/agent/maintenance?enable=true|false&reason=...
//	PUT /v1/agent/service/maintenance/<id>?enable=true|false&reason=...
//
// Enabling adds a critical check (_node_maintenance, or
// _service_maintenance:<id>) whose notes are the reason, or Consul's
// default text; disabling removes it. The node's takes agent write (Consul
// asks node write, which this agent's rules fold into agent), a service's
// takes service write on it, as Consul's. An unknown service is 404.
func (a *API) handleMaintenance(c Catalog) {
	a.mux.HandleFunc("PUT /v1/agent/maintenance", func(w http.ResponseWriter, r *http.Request) {
		enable, reason, ok := a.maintQuery(w, r)
		if !ok {
			return
		}
		if enable {
			a.catalogResult(w, c.EnableNodeMaintenance(reason))
		} else {
			a.catalogResult(w, c.DisableNodeMaintenance())
		}
	})
	a.mux.HandleFunc("PUT /v1/agent/service/maintenance/{id}", func(w http.ResponseWriter, r *http.Request) {
		enable, reason, ok := a.maintQuery(w, r)
		if !ok {
			return
		}
		id := r.PathValue("id")
		in, found := c.Service(id)
		if !found {
			a.fail(w, r, http.StatusNotFound, fmt.Errorf("unknown service ID %q", id))
			return
		}
		if !a.serviceAllowed(w, r, in.Name, acl.Write) {
			return
		}
		if enable {
			a.catalogResult(w, c.EnableServiceMaintenance(id, reason))
		} else {
			a.catalogResult(w, c.DisableServiceMaintenance(id))
		}
	})
}

// maxMaintQuery bounds the query of a maintenance request: a reason is
// at most catalog.MaxMaintReason bytes, which escaping may triple.
const maxMaintQuery = 4 << 10

// maintQuery reads enable and reason (parseMaintQuery), answering 400
// for a query it refuses or a parameter the endpoint does not take.
func (a *API) maintQuery(w http.ResponseWriter, r *http.Request) (enable bool, reason string, ok bool) {
	enable, reason, err := parseMaintQuery(r.URL.RawQuery)
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, err)
		return false, "", false
	}
	return enable, reason, a.agentQuery(w, r, "enable", "reason")
}

// parseMaintQuery parses a maintenance request's query: enable is
// required, true or false as strconv.ParseBool reads them; reason is
// optional (the catalog checks it). A query over maxMaintQuery bytes is
// refused before it is parsed.
func parseMaintQuery(raw string) (enable bool, reason string, err error) {
	if len(raw) > maxMaintQuery {
		return false, "", fmt.Errorf("query of %d bytes, at most %d", len(raw), maxMaintQuery)
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return false, "", fmt.Errorf("malformed query: %w", err)
	}
	v, set := q["enable"]
	if !set || v[0] == "" {
		return false, "", errors.New("missing value for enable")
	}
	if enable, err = strconv.ParseBool(v[0]); err != nil {
		return false, "", fmt.Errorf("invalid value for enable: %q", clipText(v[0]))
	}
	return enable, q.Get("reason"), nil
}

// clipText cuts s for an error message.
func clipText(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
