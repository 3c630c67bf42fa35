package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// The routes of requests the API's ServeMux does not route: Requests
// reports every request under the template of its route, never its path,
// so that clients cannot make a series per path.
const (
	// RouteKV is the route of /v1/kv/ paths, matched by hand.
	RouteKV = "/v1/kv/{key...}"
	// RouteResolve is the route of /v1/edgeplane/resolve/ paths.
	RouteResolve = resolvePrefix + "{path...}"
	// RouteHistory is the route of /v1/edgeplane/history/ paths.
	RouteHistory = historyPath + "{key...}"
	// RouteRollback is the route of /v1/edgeplane/rollback.
	RouteRollback = rollbackPath
	// RouteUnmatched is the route of every request no route matches.
	RouteUnmatched = "unmatched"
)

// RouteRequests counts the requests answered on one route.
type RouteRequests struct {
	// Route is the route's template: the path of its ServeMux pattern
	// ("/v1/catalog/service/{name}"; the methods of one path share it),
	// RouteKV, RouteResolve, RouteHistory, RouteRollback or
	// RouteUnmatched.
	Route string
	// Classes counts the requests by the class of their status: [0] for
	// 1xx, [1] for 2xx, up to [4] for 5xx.
	Classes [5]uint64
}

// requestCounts counts requests by route and status class. The routes
// are bounded by the patterns registered and the constants above.
type requestCounts struct {
	routes sync.Map // route -> *[5]atomic.Uint64
}

func (c *requestCounts) add(route string, status int) {
	v, ok := c.routes.Load(route)
	if !ok {
		v, _ = c.routes.LoadOrStore(route, new([5]atomic.Uint64))
	}
	class := min(max(status/100, 1), 5) - 1
	v.(*[5]atomic.Uint64)[class].Add(1)
}

// Requests reports the requests answered so far, by route (sorted).
func (a *API) Requests() []RouteRequests {
	var out []RouteRequests
	a.requests.routes.Range(func(k, v any) bool {
		rr := RouteRequests{Route: k.(string)}
		for i := range rr.Classes {
			rr.Classes[i] = v.(*[5]atomic.Uint64)[i].Load()
		}
		out = append(out, rr)
		return true
	})
	slices.SortFunc(out, func(a, b RouteRequests) int { return strings.Compare(a.Route, b.Route) })
	return out
}

// routeOf returns the route of r, which ServeHTTP has not routed (it was
// refused first): its template as the API would have routed it.
func (a *API) routeOf(r *http.Request) string {
	switch {
	case strings.HasPrefix(r.URL.Path, "/v1/kv/"):
		return RouteKV
	case a.layers != nil && strings.HasPrefix(r.URL.Path, resolvePrefix):
		return RouteResolve
	case a.history != nil && strings.HasPrefix(r.URL.Path, historyPath):
		return RouteHistory
	case a.history != nil && r.URL.Path == rollbackPath:
		return RouteRollback
	}
	_, pattern := a.mux.Handler(r)
	return routeOfPattern(pattern)
}

// routeOfPattern returns the route of a ServeMux pattern: its path, or
// RouteUnmatched for none.
func routeOfPattern(pattern string) string {
	if pattern == "" {
		return RouteUnmatched
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// statusWriter remembers the status of the answer it writes.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming answers (http.Flusher) through.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// code returns the status answered: 200 when nothing was written.
func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
