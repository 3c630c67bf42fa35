package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/version"
)

const debugHelp = `
Collects what is needed to debug the local agent into one archive, FILE
(-output, a .tar.gz, created with mode 0600; it must not exist):

  index.json         what was captured, when, and what failed
  agent.json         /v1/agent/self: identity, counters, and the
                     configuration in effect (DebugConfig), secrets hidden
  members.json       the members of the mesh
  replication.json   replication peers, bootstrap and quarantine
  services.json      the agent's services, checks, the catalog's
                     services, and the render blocks' status
  metrics/*.prom     the metrics, every -interval
  agent.log          the agent's log lines at debug level for -duration
  goroutine.prof     goroutine and heap profiles at the start, and a CPU
  heap.prof          profile over -duration (go tool pprof reads them);
  profile.prof       only when the agent runs with enable_debug

It runs for -duration; Ctrl-C ends it early and still writes the archive
of what was collected so far. Gossip keys, join tokens, ACL tokens and TLS
private keys are not in it: the agent hides them, and the command hides
its own token and any private key block it sees. Review the archive before
you share it: node names, addresses, service names and keys' names are in
it. With ACLs on, the token needs agent read, and agent write for
profiles.`

// debugTargets are what -capture may name, in the order they run: the
// one-time reads (pprof's goroutine and heap profiles among them) before
// the metrics and logs start, so that an early Ctrl-C finds them done.
var debugTargets = []string{"agent", "members", "replication", "services", "pprof", "metrics", "logs"}

// Bounds of a debug capture.
const (
	minDebugInterval = time.Second
	maxDebugDuration = time.Hour
	// maxDebugLog bounds agent.log; lines past it are counted, not kept.
	maxDebugLog = 64 << 20
	// debugRequestTimeout bounds each request but the log stream and the
	// CPU profile.
	debugRequestTimeout = 30 * time.Second
)

type debugCmd struct {
	duration, interval time.Duration
	output             string
	capture            multiFlag
}

func (*debugCmd) spec() spec {
	return spec{agent: true, timeout: unbounded, help: debugHelp}
}

func (c *debugCmd) define(fs *flag.FlagSet) {
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "how long to collect logs, metrics and the CPU profile")
	fs.DurationVar(&c.interval, "interval", 5*time.Second, "how often to read the metrics")
	fs.StringVar(&c.output, "output", "", "archive `file` to write (default edgeplane-debug-<time>.tar.gz)")
	fs.Var(&c.capture, "capture", "`target` to capture: "+strings.Join(debugTargets, ", ")+"; repeat the flag for more (default all)")
}

func (c *debugCmd) run(e *env) int {
	if c.duration < minDebugInterval || c.duration > maxDebugDuration {
		return fail(e, "-duration: want 1s to %s, got %s", maxDebugDuration, c.duration)
	}
	if c.interval < minDebugInterval {
		return fail(e, "-interval: want at least 1s, got %s", c.interval)
	}
	targets := slices.Clone(debugTargets)
	if len(c.capture) > 0 {
		targets = nil
		for _, t := range c.capture {
			for _, t := range strings.Split(t, ",") {
				if !slices.Contains(debugTargets, t) {
					return fail(e, "-capture: unknown target %q; want one of %s", t, strings.Join(debugTargets, ", "))
				}
				targets = append(targets, t)
			}
		}
	}
	// An agent that does not answer at all gets no archive; one that
	// refuses the token gets one that says so.
	if err := reachable(e.ctx, e.client); err != nil {
		return fail(e, "%v", err)
	}
	if c.output == "" {
		c.output = "edgeplane-debug-" + time.Now().UTC().Format("20060102T150405Z") + ".tar.gz"
	}
	// The file is created now, so that a name taken fails before the
	// capture, and written at the end.
	f, err := os.OpenFile(c.output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fail(e, "-output: %v", err)
	}
	ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(e.Stdout, "Capturing %s from %s for %s (Ctrl-C ends it early)...\n", strings.Join(targets, ", "), e.client.Address(), c.duration)
	b := &debugBundle{client: e.client, started: time.Now(), secrets: bundleSecrets(e)}
	b.capture(ctx, targets, c.duration, c.interval)
	idx := b.index(targets, c.duration, c.interval, ctx.Err() != nil)
	if err := writeBundle(f, idx, b.files); err != nil {
		f.Close()
		os.Remove(c.output)
		return fail(e, "writing %s: %v", c.output, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(c.output)
		return fail(e, "writing %s: %v", c.output, err)
	}
	for _, p := range idx.Errors {
		fmt.Fprintf(e.Stderr, "Not captured: %s: %s\n", p.Target, p.Error)
	}
	if idx.Interrupted {
		fmt.Fprintln(e.Stdout, "Interrupted: writing what was captured.")
	}
	abs, _ := filepath.Abs(c.output)
	fmt.Fprintf(e.Stdout, "Saved debug archive: %s\n", abs)
	return 0
}

// reachable returns the error of a call to the agent that got no answer.
func reachable(ctx context.Context, c *api.Client) error {
	ctx, cancel := context.WithTimeout(ctx, debugRequestTimeout)
	defer cancel()
	if _, err := c.Self(ctx); errors.Is(err, api.ErrUnreachable) || ctx.Err() != nil {
		return err
	}
	return nil
}

// bundleSecrets returns what the command itself knows and must not write:
// the token it sends.
func bundleSecrets(e *env) []string {
	if t := e.client.Token(); t != "" {
		return []string{t}
	}
	return nil
}

// debugBundle collects a bundle's files; its methods may run at once.
type debugBundle struct {
	client  *api.Client
	started time.Time
	secrets []string

	mu      sync.Mutex
	files   []bundleFile
	errs    []bundleError
	ended   time.Time
	agent   api.AgentSelf
	logSize int
	logLost int
}

// bundleFile is one file of the archive.
type bundleFile struct {
	name string
	data []byte
	at   time.Time
}

// bundleError is a part that could not be captured, as index.json lists
// it.
type bundleError struct {
	Target string
	Error  string
}

func (b *debugBundle) add(name string, data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.files = append(b.files, bundleFile{name: name, data: data, at: time.Now()})
}

func (b *debugBundle) failed(target string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs = append(b.errs, bundleError{Target: target, Error: err.Error()})
}

// addJSON adds v as indented JSON, with the bundle's secrets hidden.
func (b *debugBundle) addJSON(name string, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		b.failed(name, err)
		return
	}
	b.add(name, b.scrub(append(data, '\n')))
}

// privateKeyBlock matches a PEM private key block, whatever its kind.
var privateKeyBlock = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[^-]*-----END [A-Z0-9 ]*PRIVATE KEY-----`)

// scrub hides in text the command's own secrets and any PEM private key:
// the agent hides its secrets, and this catches what it might not.
func (b *debugBundle) scrub(text []byte) []byte {
	for _, s := range b.secrets {
		text = bytes.ReplaceAll(text, []byte(s), []byte("hidden"))
	}
	return privateKeyBlock.ReplaceAll(text, []byte("-----BEGIN PRIVATE KEY-----\nhidden\n-----END PRIVATE KEY-----"))
}

// capture runs the targets: the state once at the start, the logs, the
// metrics and the CPU profile for d (or until ctx ends), then returns when
// every part has ended.
func (b *debugBundle) capture(ctx context.Context, targets []string, d, interval time.Duration) {
	collect, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait() // before cancel: the parts end with collect
	call := func(f func(ctx context.Context) error) error {
		rctx, cancel := context.WithTimeout(ctx, debugRequestTimeout)
		defer cancel()
		return f(rctx)
	}
	for _, t := range targets {
		switch t {
		case "agent":
			if err := call(func(ctx context.Context) (err error) { b.agent, err = b.client.Self(ctx); return err }); err != nil {
				b.failed(t, err)
				continue
			}
			b.addJSON("agent.json", b.agent)
		case "members":
			var ms []api.AgentMember
			if err := call(func(ctx context.Context) (err error) { ms, err = b.client.Members(ctx); return err }); err != nil {
				b.failed(t, err)
				continue
			}
			b.addJSON("members.json", ms)
		case "replication":
			var r api.Replication
			if err := call(func(ctx context.Context) (err error) { r, err = b.client.Replication(ctx); return err }); err != nil {
				b.failed(t, err)
				continue
			}
			b.addJSON("replication.json", r)
		case "services":
			b.captureServices(call)
		case "metrics":
			wg.Go(func() { b.captureMetrics(collect, call, interval) })
		case "logs":
			wg.Go(func() { b.captureLogs(collect) })
		case "pprof":
			b.captureProfiles(ctx, &wg, call, d)
		}
	}
	wg.Wait()
	b.mu.Lock()
	b.ended = time.Now()
	b.mu.Unlock()
}

// debugServices is services.json.
type debugServices struct {
	Services map[string]api.AgentService
	Checks   map[string]api.AgentCheck
	Catalog  map[string][]string
	Render   []api.RenderStatus // /v1/edgeplane/render
}

func (b *debugBundle) captureServices(call func(func(context.Context) error) error) {
	var s debugServices
	var errs []error
	errs = append(errs, call(func(ctx context.Context) (err error) { s.Services, err = b.client.Services(ctx); return err }))
	errs = append(errs, call(func(ctx context.Context) (err error) { s.Checks, err = b.client.Checks(ctx); return err }))
	errs = append(errs, call(func(ctx context.Context) (err error) { s.Catalog, err = b.client.CatalogServices(ctx); return err }))
	errs = append(errs, call(func(ctx context.Context) (err error) { s.Render, err = b.client.RenderStatus(ctx); return err }))
	if err := errors.Join(errs...); err != nil {
		b.failed("services", err)
	}
	b.addJSON("services.json", s)
}

// captureMetrics reads the metrics now and every interval until ctx ends.
func (b *debugBundle) captureMetrics(ctx context.Context, call func(func(context.Context) error) error, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for n := 0; ; n++ {
		var text []byte
		err := call(func(rctx context.Context) error {
			rc, err := b.client.MetricsText(rctx)
			if err != nil {
				return err
			}
			defer rc.Close()
			text, err = io.ReadAll(rc)
			return err
		})
		switch {
		case err != nil && ctx.Err() == nil:
			b.failed("metrics", err)
		case err == nil:
			b.add(fmt.Sprintf("metrics/%03d-%s.prom", n, time.Now().UTC().Format("150405")), b.scrub(text))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// captureLogs streams the agent's log at debug level until ctx ends.
func (b *debugBundle) captureLogs(ctx context.Context) {
	var log bytes.Buffer
	err := b.client.Monitor(ctx, "debug", false, func(line string) {
		if log.Len()+len(line)+1 > maxDebugLog {
			b.mu.Lock()
			b.logLost++
			b.mu.Unlock()
			return
		}
		log.WriteString(line)
		log.WriteByte('\n')
	})
	if err != nil {
		b.failed("logs", err)
	}
	b.mu.Lock()
	b.logSize = log.Len()
	b.mu.Unlock()
	b.add("agent.log", b.scrub(log.Bytes()))
}

// captureProfiles takes the goroutine and heap profiles now and starts the
// CPU profile over d in wg. A profile is not scrubbed: it is compressed
// binary, and holds stacks and sizes, not memory contents.
func (b *debugBundle) captureProfiles(ctx context.Context, wg *sync.WaitGroup, call func(func(context.Context) error) error, d time.Duration) {
	profile := func(ctx context.Context, name string, d time.Duration) error {
		rc, err := b.client.Profile(ctx, name, d)
		if err != nil {
			return err
		}
		defer rc.Close()
		data, err := io.ReadAll(rc)
		if err != nil {
			return err
		}
		b.add(name+".prof", data)
		return nil
	}
	for _, name := range []string{"goroutine", "heap"} {
		if err := call(func(ctx context.Context) error { return profile(ctx, name, 0) }); err != nil {
			b.failed("pprof", profileError(name, err))
			if api.IsNotFound(err) {
				return // the agent serves none: one error says so
			}
		}
	}
	wg.Go(func() {
		// The agent profiles for d, then answers: the request gets d
		// and a margin, and ends early only when ctx does.
		pctx, cancel := context.WithTimeout(ctx, d+debugRequestTimeout)
		defer cancel()
		if err := profile(pctx, "profile", d); err != nil {
			if ctx.Err() != nil {
				err = errors.New("interrupted before the CPU profile was complete")
			}
			b.failed("pprof", profileError("profile", err))
		}
	})
}

// profileError says why a profile is missing, in words an operator can
// act on.
func profileError(name string, err error) error {
	var se *api.StatusError
	if errors.As(err, &se) {
		switch se.Code {
		case 404:
			return errors.New("the agent serves no profiles: start it with enable_debug")
		case 403:
			return fmt.Errorf("%s: refused: profiles need a loopback address and, with ACLs on, a token with agent write (%w)", name, err)
		}
	}
	return fmt.Errorf("%s: %w", name, err)
}

// debugIndex is index.json.
type debugIndex struct {
	EdgeplaneVersion string // of the command
	AgentVersion     string `json:",omitempty"`
	Node             string `json:",omitempty"`
	Agent            string // the API's address
	Started, Ended   time.Time
	Duration         string
	Interval         string
	Targets          []string
	// Interrupted: Ctrl-C ended the capture before Duration.
	Interrupted bool
	// LogBytes is agent.log's size; LogLinesDropped the lines left out
	// past its bound.
	LogBytes        int
	LogLinesDropped int `json:",omitempty"`
	Files           []string
	Errors          []bundleError `json:",omitempty"`
	// NotCaptured names what the bundle cannot hold yet.
	NotCaptured []string
}

func (b *debugBundle) index(targets []string, d, interval time.Duration, interrupted bool) debugIndex {
	b.mu.Lock()
	defer b.mu.Unlock()
	slices.SortStableFunc(b.files, func(x, y bundleFile) int { return strings.Compare(x.name, y.name) })
	idx := debugIndex{
		EdgeplaneVersion: version.Version, AgentVersion: b.agent.Config.Version, Node: b.agent.Config.NodeName,
		Agent: b.client.Address(), Started: b.started.UTC(), Ended: b.ended.UTC(),
		Duration: d.String(), Interval: interval.String(), Targets: targets, Interrupted: interrupted,
		LogBytes: b.logSize, LogLinesDropped: b.logLost, Errors: b.errs,
		NotCaptured: []string{"render status: the agent has no template rendering"},
	}
	for _, f := range b.files {
		idx.Files = append(idx.Files, f.name)
	}
	return idx
}

// writeBundle writes index.json and files as a gzipped tar to w.
func writeBundle(w io.Writer, idx debugIndex, files []bundleFile) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	all := append([]bundleFile{{name: "index.json", data: append(data, '\n'), at: idx.Ended}}, files...)
	dirs := map[string]bool{}
	for _, f := range all {
		if dir, _, ok := strings.Cut(f.name, "/"); ok && !dirs[dir] {
			dirs[dir] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o700, ModTime: f.at}); err != nil {
				return err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o600, Size: int64(len(f.data)), ModTime: f.at}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}
