package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/edgeplane/edgeplane/agent/acl"
	"github.com/edgeplane/edgeplane/store"
)

// Local API tokens. With ACLs on (Config.ACL returns a Resolver), every
// request is resolved to an acl.Authorizer before it is routed: its token
// comes from ?token=, else the X-Consul-Token header, else an
// "Authorization: Bearer" header, as Consul reads them; a request with
// none is the anonymous token's. A token no one holds is answered 403
// "ACL not found". Then:
//
//   - KV requests are checked by handleKV, which knows the key: a read
//     needs key read, a write or delete key write, a recursive delete
//     write on every key under the prefix; a recursive or keys read is
//     filtered to the keys the token may read.
//   - Layered reads (/v1/edgeplane/resolve/) check key read on each
//     layer's key in handleResolve, skipping the layers refused.
//   - History (/v1/edgeplane/history/) needs key read on the key, and a
//     prefix listing is filtered to the keys the token may read; a
//     rollback (/v1/edgeplane/rollback) needs key write on the key, or on
//     every key under the prefix (history.go).
//   - The agent's service endpoints check Consul's service rules in
//     their handlers (catalogRoute).
//   - Every other request needs what routeNeeds says: nothing for
//     /v1/status/*, agent read for the agent's state, agent write for
//     everything else, so an endpoint added later is closed until it is
//     classified here.
//
// A refusal is a 403 with Consul's text ("Permission denied: ..."); it is
// logged at debug level with the token's description, never its secret.

// authzKey keys the request's *acl.Authorizer in its context.
type authzKey struct{}

// authorizer returns the request's Authorizer; AllowAll when ACLs are off.
func authorizer(ctx context.Context) *acl.Authorizer {
	if z, ok := ctx.Value(authzKey{}).(*acl.Authorizer); ok {
		return z
	}
	return acl.AllowAll
}

// requestToken returns the secret a request presents, where Consul looks
// for it: ?token=, X-Consul-Token, then Authorization: Bearer.
func requestToken(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	if t := r.Header.Get("X-Consul-Token"); t != "" {
		return t
	}
	scheme, value, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(value)
	}
	return ""
}

// authorize resolves r's token and, for a route other than KV, checks
// what the route needs. It returns r carrying its Authorizer, or answers
// 403 and returns false.
func (a *API) authorize(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if a.acl == nil {
		return r, true
	}
	res := a.acl()
	if res == nil {
		return r, true
	}
	z, err := res.Resolve(requestToken(r))
	if err != nil {
		a.deny(w, r, "unknown token", err)
		return r, false
	}
	if !strings.HasPrefix(r.URL.Path, "/v1/kv/") {
		switch routeNeeds(r.Method, r.URL.Path) {
		case acl.Read:
			if !z.AgentRead() {
				a.deny(w, r, z.Description(), z.Denied(acl.ResourceAgent, acl.Read, ""))
				return r, false
			}
		case acl.Write:
			if !z.AgentWrite() {
				a.deny(w, r, z.Description(), z.Denied(acl.ResourceAgent, acl.Write, ""))
				return r, false
			}
		}
	}
	return r.WithContext(context.WithValue(r.Context(), authzKey{}, z)), true
}

// routeNeeds returns the agent access a request other than KV needs:
// None for the status endpoints (Consul asks none), Read for the agent's
// state, Write for everything else: the agent's controls, snapshots,
// the keyring (whose listing shows the gossip keys), join tokens (which
// hold the gossip key), the runtime's profiles (/debug/pprof/, which show
// what the agent holds in memory) and any path not listed here.
func routeNeeds(method, path string) acl.Access {
	if catalogRoute(method, path) {
		return acl.None // the handler checks the service (services.go)
	}
	if strings.HasPrefix(path, resolvePrefix) && (method == http.MethodGet || method == http.MethodHead) {
		return acl.None // the handler checks each layer's key (resolve.go)
	}
	if strings.HasPrefix(path, historyPath) || path == rollbackPath {
		return acl.None // the handler checks the keys (history.go)
	}
	if method != http.MethodGet && method != http.MethodHead {
		return acl.Write
	}
	switch path {
	case "/v1/status/leader", "/v1/status/peers", "/v1/catalog/datacenters":
		return acl.None
	case "/v1/agent/self", "/v1/agent/members", "/v1/catalog/nodes", "/v1/edgeplane/replication", "/v1/agent/monitor",
		"/v1/agent/metrics", "/metrics", "/v1/edgeplane/render":
		return acl.Read
	}
	for _, prefix := range []string{"/v1/edgeplane/rpc/ping/", "/v1/edgeplane/metrics/"} {
		if node, ok := strings.CutPrefix(path, prefix); ok && node != "" && node != "." && node != ".." && !strings.Contains(node, "/") {
			return acl.Read
		}
	}
	return acl.Write
}

// catalogRoute reports whether a request is one of the agent's service
// endpoints, which ask Consul's service rules rather than agent access:
// service:write on the service to register, deregister, report a
// check or put it in maintenance; service:read to read one; listings show only the services the
// token may read.
func catalogRoute(method, path string) bool {
	oneSegment := func(prefix string) bool {
		rest, ok := strings.CutPrefix(path, prefix)
		return ok && rest != "" && !strings.Contains(rest, "/")
	}
	switch method {
	case http.MethodGet, http.MethodHead:
		return path == "/v1/agent/services" || path == "/v1/agent/checks" || oneSegment("/v1/agent/service/") ||
			path == "/v1/catalog/services" || oneSegment("/v1/catalog/service/") || oneSegment("/v1/health/service/") ||
			oneSegment("/v1/health/checks/") || oneSegment("/v1/health/node/") || oneSegment("/v1/health/state/") ||
			oneSegment("/v1/catalog/node/") || oneSegment("/v1/catalog/node-services/") ||
			oneSegment("/v1/agent/health/service/name/") || oneSegment("/v1/agent/health/service/id/")
	case http.MethodPut:
		return path == "/v1/agent/service/register" || oneSegment("/v1/agent/service/deregister/") ||
			oneSegment("/v1/agent/check/pass/") || oneSegment("/v1/agent/check/warn/") ||
			oneSegment("/v1/agent/check/fail/") || oneSegment("/v1/agent/check/update/") ||
			oneSegment("/v1/agent/service/maintenance/")
	}
	return false
}

// deny answers 403 with err's text and logs who was refused what.
func (a *API) deny(w http.ResponseWriter, r *http.Request, who string, err error) {
	a.log.DebugContext(r.Context(), "http api request denied", "method", r.Method, "path", r.URL.Path, "token", who, "err", err)
	http.Error(w, err.Error(), http.StatusForbidden)
}

// kvAllowed checks a KV request against its token, answering 403 when it
// is refused. Prefix reads pass: prefixReader filters them.
func (a *API) kvAllowed(w http.ResponseWriter, r *http.Request, req kvRequest) bool {
	z := authorizer(r.Context())
	var err error
	switch {
	case req.method == http.MethodPut || req.method == http.MethodDelete && !req.recurse:
		if !z.KeyWrite(req.key) {
			err = z.Denied(acl.ResourceKey, acl.Write, req.key)
		}
	case req.method == http.MethodDelete:
		if !z.KeyWritePrefix(req.key) {
			err = z.Denied(acl.ResourceKey, acl.Write, req.key)
		}
	case !req.recurse && !req.keys:
		if !z.KeyRead(req.key) {
			err = z.Denied(acl.ResourceKey, acl.Read, req.key)
		}
	}
	if err != nil {
		a.deny(w, r, z.Description(), err)
		return false
	}
	return true
}

// prefixReader returns how a ?recurse or ?keys read reads its pages: from
// the store as they are when the token may read every key under the
// prefix, else through a prefixFilter (returned too; nil otherwise) that
// drops the keys the token may not read, as Consul filters a listing.
func (a *API) prefixReader(ctx context.Context, req kvRequest) (func(from string, n int) (store.Page, error), *prefixFilter) {
	z := authorizer(ctx)
	if z.KeyReadPrefix(req.key) {
		if req.keys {
			return func(from string, n int) (store.Page, error) {
				return a.store.KeysPage(req.key, req.separator, from, n)
			}, nil
		}
		return func(from string, n int) (store.Page, error) { return a.store.ListPage(req.key, from, n) }, nil
	}
	f := &prefixFilter{z: z, prefix: req.key, separator: req.separator}
	if req.keys {
		// Whole keys, filtered, then cut at the separator here: a key cut
		// by the store could stand for keys the token may not read.
		return func(from string, n int) (store.Page, error) {
			pg, err := a.store.KeysPage(req.key, "", from, n)
			f.keys(&pg)
			return pg, err
		}, f
	}
	return func(from string, n int) (store.Page, error) {
		pg, err := a.store.ListPage(req.key, from, n)
		f.entries(&pg)
		return pg, err
	}, f
}

// prefixFilter drops from a prefix read the keys its token may not read.
type prefixFilter struct {
	z         *acl.Authorizer
	prefix    string
	separator string
	dropped   bool // a key was dropped
}

func (f *prefixFilter) entries(pg *store.Page) {
	kept := pg.Entries[:0]
	for _, e := range pg.Entries {
		if f.z.KeyRead(e.Key) {
			kept = append(kept, e)
		} else {
			f.dropped = true
		}
	}
	pg.Entries = kept
}

func (f *prefixFilter) keys(pg *store.Page) {
	kept := pg.Keys[:0]
	for _, k := range pg.Keys {
		if !f.z.KeyRead(k) {
			f.dropped = true
			continue
		}
		if f.separator != "" {
			if i := strings.Index(k[len(f.prefix):], f.separator); i >= 0 {
				k = k[:len(f.prefix)+i+len(f.separator)]
			}
		}
		if n := len(kept); n > 0 && kept[n-1] == k {
			continue
		}
		kept = append(kept, k)
	}
	pg.Keys = kept
}

// report sets X-Consul-Results-Filtered-By-ACLs, as Consul does, only for
// a request that named a token (an anonymous client is not told). done
// says whether the answer's first page was its last: if not, keys may yet
// be dropped from later pages, and the header says so in advance.
func (f *prefixFilter) report(w http.ResponseWriter, done bool) {
	if f == nil || f.z.Anonymous() {
		return
	}
	if f.dropped || !done {
		w.Header().Set("X-Consul-Results-Filtered-By-ACLs", "true")
	}
}
