package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/catalog"
)

// maxCheckUpdateSize bounds the body of PUT /v1/agent/check/update: an
// output is cut to catalog.MaxOutput bytes, but JSON may escape it.
const maxCheckUpdateSize = 64 << 10

// handleCatalog adds the agent's service endpoints, as Consul's: register
// (with TTL, HTTP and TCP checks; script checks are refused), deregister,
// list the services and checks, and report TTL checks. Their
// ACLs are Consul's (see catalogRoute): service:write on the service for
// a change, service:read for a read, listings filtered.
func (a *API) handleCatalog(c Catalog) {
	a.mux.HandleFunc("PUT /v1/agent/service/register", func(w http.ResponseWriter, r *http.Request) {
		a.serviceRegister(w, r, c)
	})
	a.mux.HandleFunc("PUT /v1/agent/service/deregister/{id}", func(w http.ResponseWriter, r *http.Request) {
		if in, ok := a.pathService(w, r, c, acl.Write); ok {
			if in.ID == catalog.AgentServiceID {
				a.fail(w, r, http.StatusBadRequest, fmt.Errorf("service %q is the agent's own: it stays while the agent runs", in.ID))
				return
			}
			a.catalogResult(w, c.Deregister(in.ID))
		}
	})
	a.mux.HandleFunc("GET /v1/agent/services", func(w http.ResponseWriter, r *http.Request) {
		f, ok := a.agentFilter(w, r)
		if !ok {
			return
		}
		z := authorizer(r.Context())
		out := map[string]api.AgentService{}
		filtered := false
		for _, in := range c.Services() {
			if !z.ServiceRead(in.Name) {
				filtered = true
				continue
			}
			s := a.agentService(&in)
			if keep, err := f.keep(&s); err != nil {
				a.fail(w, r, http.StatusBadRequest, err)
				return
			} else if keep {
				out[in.ID] = s
			}
		}
		reportFiltered(w, z, filtered)
		writeJSON(w, out)
	})
	a.mux.HandleFunc("GET /v1/agent/service/{id}", func(w http.ResponseWriter, r *http.Request) {
		if in, ok := a.pathService(w, r, c, acl.Read); ok {
			writeJSON(w, a.agentService(&in))
		}
	})
	a.mux.HandleFunc("GET /v1/agent/checks", func(w http.ResponseWriter, r *http.Request) {
		f, ok := a.agentFilter(w, r)
		if !ok {
			return
		}
		z := authorizer(r.Context())
		tags := map[string][]string{}
		for _, in := range c.Services() {
			tags[in.ID] = in.Tags
		}
		out := map[string]api.AgentCheck{}
		filtered := false
		for _, cs := range c.Checks() {
			if !z.ServiceRead(cs.ServiceName) {
				filtered = true
				continue
			}
			ac := a.agentCheck(&cs, tags[cs.ServiceID])
			if keep, err := f.keep(&ac); err != nil {
				a.fail(w, r, http.StatusBadRequest, err)
				return
			} else if keep {
				out[cs.ID] = ac
			}
		}
		reportFiltered(w, z, filtered)
		writeJSON(w, out)
	})
	for verb, status := range map[string]string{"pass": catalog.StatusPassing, "warn": catalog.StatusWarning, "fail": catalog.StatusCritical} {
		a.mux.HandleFunc("PUT /v1/agent/check/"+verb+"/{id}", func(w http.ResponseWriter, r *http.Request) {
			if !a.agentQuery(w, r, "note") {
				return
			}
			a.checkUpdate(w, r, c, status, r.URL.Query().Get("note"))
		})
	}
	a.mux.HandleFunc("PUT /v1/agent/check/update/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !a.agentQuery(w, r) {
			return
		}
		body, ok := a.readBody(w, r, maxCheckUpdateSize)
		if !ok {
			return
		}
		status, output, err := catalog.ParseCheckUpdate(body)
		if err != nil {
			a.catalogResult(w, err)
			return
		}
		a.checkUpdate(w, r, c, status, output)
	})
}

// pathService returns the service the request's path names ({id}) once
// its query passes and its token has access on the service; otherwise
// it answers 400, 403 or 404 and returns false.
func (a *API) pathService(w http.ResponseWriter, r *http.Request, c Catalog, access acl.Access) (catalog.Instance, bool) {
	if !a.agentQuery(w, r) {
		return catalog.Instance{}, false
	}
	id := r.PathValue("id")
	in, ok := c.Service(id)
	if !ok {
		a.fail(w, r, http.StatusNotFound, fmt.Errorf("unknown service ID %q", id))
		return catalog.Instance{}, false
	}
	return in, a.serviceAllowed(w, r, in.Name, access)
}

// serviceRegister answers PUT /v1/agent/service/register.
func (a *API) serviceRegister(w http.ResponseWriter, r *http.Request, c Catalog) {
	if !a.agentQuery(w, r, "replace-existing-checks") {
		return
	}
	replace := false
	if v, ok := r.URL.Query()["replace-existing-checks"]; ok {
		b, err := strconv.ParseBool(v[0])
		if v[0] != "" && err != nil {
			a.fail(w, r, http.StatusBadRequest, fmt.Errorf("replace-existing-checks %q: true or false", v[0]))
			return
		}
		replace = v[0] == "" || b
	}
	body, ok := a.readBody(w, r, catalog.MaxRegistrationSize)
	if !ok {
		return
	}
	reg, err := catalog.ParseRegistration(body)
	if err != nil {
		a.catalogResult(w, err)
		return
	}
	if !a.serviceAllowed(w, r, reg.Service.Name, acl.Write) {
		return
	}
	// Renaming a registered ID takes write on the name it had too.
	if old, ok := c.Service(reg.Service.ID); ok && !a.serviceAllowed(w, r, old.Name, acl.Write) {
		return
	}
	a.catalogResult(w, c.Register(reg, replace))
}

// checkUpdate reports a TTL check's status after checking the token may
// write its service.
func (a *API) checkUpdate(w http.ResponseWriter, r *http.Request, c Catalog, status, output string) {
	id := r.PathValue("id")
	cs, ok := c.CheckByID(id)
	if !ok {
		a.fail(w, r, http.StatusNotFound, fmt.Errorf("Unknown check ID %q. Ensure that the check ID is passed, not the check name.", id))
		return
	}
	if !a.serviceAllowed(w, r, cs.ServiceName, acl.Write) {
		return
	}
	a.catalogResult(w, c.UpdateTTL(id, status, output))
}

// catalogResult answers a change of the catalog: 200, 400 for what the
// catalog refuses, 404 for an unknown service or check, 507 when the disk
// is full, 503 once the agent is stopping.
func (a *API) catalogResult(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
	case errors.Is(err, catalog.ErrInvalid):
		a.fail(w, nil, http.StatusBadRequest, err)
	case errors.Is(err, catalog.ErrUnknownService), errors.Is(err, catalog.ErrUnknownCheck):
		a.fail(w, nil, http.StatusNotFound, err)
	case errors.Is(err, catalog.ErrClosed):
		a.fail(w, nil, http.StatusServiceUnavailable, err)
	case diskFull(err):
		a.fail(w, nil, http.StatusInsufficientStorage, err)
	default:
		a.fail(w, nil, http.StatusInternalServerError, err)
	}
}

// agentQuery refuses query parameters the endpoint does not take: ns and
// partition (not supported), filter (unless listed) and blocking queries
// (not yet), and any other than token, pretty and those listed. It
// answers 400 and returns false.
func (a *API) agentQuery(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, fmt.Errorf("malformed query: %w", err))
		return false
	}
	for name := range q {
		switch {
		case name == "token" || name == "pretty" || slices.Contains(allowed, name):
		case name == "ns" || name == "partition":
			err = fmt.Errorf("%s: namespaces and admin partitions are not supported by edgeplane", name)
		case name == "filter" && q.Get(name) == "":
		case name == "filter":
			err = errors.New("filter: filtering agent services and checks is not supported yet")
		case name == "index" || name == "hash" || name == "wait":
			err = fmt.Errorf("%s: blocking queries on agent services are not supported yet", name)
		default:
			err = fmt.Errorf("unsupported query parameter %q", name)
		}
		if err != nil {
			a.fail(w, r, http.StatusBadRequest, err)
			return false
		}
	}
	return true
}

// serviceAllowed checks that the request's token has access on the
// service name, answering 403 when not.
func (a *API) serviceAllowed(w http.ResponseWriter, r *http.Request, name string, access acl.Access) bool {
	z := authorizer(r.Context())
	if access == acl.Write && z.ServiceWrite(name) || access == acl.Read && z.ServiceRead(name) {
		return true
	}
	a.deny(w, r, z.Description(), z.Denied(acl.ResourceService, access, name))
	return false
}

// reportFiltered sets X-Consul-Results-Filtered-By-ACLs, as Consul does,
// for a request that named a token.
func reportFiltered(w http.ResponseWriter, z *acl.Authorizer, filtered bool) {
	if filtered && !z.Anonymous() {
		w.Header().Set("X-Consul-Results-Filtered-By-ACLs", "true")
	}
}

func (a *API) agentService(in *catalog.Instance) api.AgentService {
	s := api.AgentService{ID: in.ID, Service: in.Name, Tags: in.Tags, Meta: in.Meta, Port: in.Port,
		Address: in.Address, Weights: api.AgentWeights(in.Weights), EnableTagOverride: in.EnableTagOverride,
		Datacenter: a.self().Datacenter}
	if s.Tags == nil {
		s.Tags = []string{}
	}
	if s.Meta == nil {
		s.Meta = map[string]string{}
	}
	if len(in.TaggedAddresses) > 0 {
		s.TaggedAddresses = make(map[string]api.ServiceAddress, len(in.TaggedAddresses))
		for k, v := range in.TaggedAddresses {
			s.TaggedAddresses[k] = api.ServiceAddress(v)
		}
	}
	return s
}

func (a *API) agentCheck(cs *catalog.CheckState, tags []string) api.AgentCheck {
	if tags == nil {
		tags = []string{}
	}
	c := api.AgentCheck{Node: a.self().NodeName, CheckID: cs.ID, Name: cs.Name, Status: cs.Status,
		Notes: cs.Notes, Output: cs.Output, ServiceID: cs.ServiceID, ServiceName: cs.ServiceName,
		ServiceTags: tags, Type: cs.Type}
	if d := cs.DeregisterCriticalServiceAfter; d > 0 {
		c.Definition.DeregisterCriticalServiceAfter = d.String()
	}
	def := cs.Active
	if def == nil {
		if cs.TTL > 0 { // a maintenance check has none
			c.Definition.TTL = cs.TTL.String()
		}
		return c
	}
	c.Interval, c.Timeout = def.Interval.String(), def.Timeout.String()
	c.Definition.CheckTarget = api.CheckTarget{HTTP: def.HTTP, Header: def.Header, Method: def.Method, Body: def.Body,
		TLSServerName: def.TLSServerName, TLSSkipVerify: def.TLSSkipVerify, TCP: def.TCP,
		Interval: c.Interval, Timeout: c.Timeout}
	return c
}
