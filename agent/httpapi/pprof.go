package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"
)

// Profiles of the Go runtime, served under /debug/pprof/ when
// Config.Debug is set (the agent's enable_debug), in the format of
// net/http/pprof, which `go tool pprof` reads:
//
//   - GET /debug/pprof/ lists the profiles;
//   - GET /debug/pprof/profile?seconds=N is a CPU profile of N seconds
//     (default 30, at most MaxCPUProfile), cut short when the client goes
//     away or the API closes; one runs at a time, another is a 409;
//   - GET /debug/pprof/NAME?debug=N is runtime/pprof's profile NAME
//     (goroutine, heap, allocs, threadcreate, block, mutex); ?gc=1 runs a
//     garbage collection before a heap profile.
//
// Who may read them: a client on a loopback address only, whatever
// http_addr and http_allowed_hosts say (a profile shows the agent's code
// paths and what it holds in memory, and a CPU profile costs CPU), and,
// with ACLs on, a token with agent write (routeNeeds: the paths are not
// listed there). The command line (net/http/pprof's cmdline) is not
// served: it may hold the gossip key or a join token given as flags.
// Without Config.Debug every path here is a 404, as any unknown path.

// MaxCPUProfile bounds the seconds of a CPU profile.
const MaxCPUProfile = 10 * time.Minute

// defaultCPUProfile is a CPU profile's length without ?seconds.
const defaultCPUProfile = 30 * time.Second

func (a *API) handleProfiles() {
	a.mux.HandleFunc("GET /debug/pprof/{$}", a.loopbackOnly(a.handleProfileIndex))
	a.mux.HandleFunc("GET /debug/pprof/profile", a.loopbackOnly(a.handleCPUProfile))
	a.mux.HandleFunc("GET /debug/pprof/{name}", a.loopbackOnly(a.handleNamedProfile))
}

// loopbackOnly answers 403 to a client whose address is not loopback.
func (a *API) loopbackOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			a.log.DebugContext(r.Context(), "profile refused to a remote client", "remote", r.RemoteAddr, "path", r.URL.Path)
			http.Error(w, "Permission denied: profiles are served to loopback clients only", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

func (a *API) handleProfileIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	fmt.Fprintln(w, "profile (CPU, ?seconds=N)")
	for _, p := range pprof.Profiles() {
		fmt.Fprintf(w, "%s (%d)\n", p.Name(), p.Count())
	}
}

// errCPUProfileBusy: another CPU profile is running.
var errCPUProfileBusy = errors.New("a CPU profile is already running; try again when it ends")

func (a *API) handleCPUProfile(w http.ResponseWriter, r *http.Request) {
	d := defaultCPUProfile
	if s := r.URL.Query().Get("seconds"); s != "" {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || n <= 0 || time.Duration(n*float64(time.Second)) > MaxCPUProfile {
			http.Error(w, fmt.Sprintf("seconds: want a number above 0, at most %d", int(MaxCPUProfile.Seconds())), http.StatusBadRequest)
			return
		}
		d = time.Duration(n * float64(time.Second))
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="profile"`)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := pprof.StartCPUProfile(w); err != nil {
		w.Header().Del("Content-Disposition")
		http.Error(w, errCPUProfileBusy.Error(), http.StatusConflict)
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-a.closed.Done():
	}
	pprof.StopCPUProfile()
}

func (a *API) handleNamedProfile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p := pprof.Lookup(name)
	if p == nil {
		http.Error(w, fmt.Sprintf("no profile %q", name), http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	debug := 0
	if s := q.Get("debug"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 2 {
			http.Error(w, "debug: want 0, 1 or 2", http.StatusBadRequest)
			return
		}
		debug = n
	}
	if name == "heap" && q.Get("gc") == "1" {
		runtime.GC()
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if debug > 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	}
	if err := p.WriteTo(w, debug); err != nil {
		a.log.DebugContext(r.Context(), "profile not written", "profile", name, "err", err)
	}
}
