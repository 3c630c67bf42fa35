package catalog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"time"

	"github.com/edgeplane/edgeplane/agent/command"
)

// A probe is one run of a check the agent runs: it returns the status and
// output of that run. ctx ends with the run's timeout (its cause then a
// *timeoutError) or when the check stops.
type probe interface {
	run(ctx context.Context) (status, output string)
	close()
}

// timeoutError is the cause of a run's context once its timeout passed.
type timeoutError struct{ d time.Duration }

func (e *timeoutError) Error() string { return fmt.Sprintf("timed out after %v", e.d) }

// runErr returns the timeout when it ended the run, err otherwise.
func runErr(ctx context.Context, err error) error {
	var te *timeoutError
	if errors.As(context.Cause(ctx), &te) {
		return te
	}
	return err
}

// newProbe builds the probe of a definition.
func newProbe(a *ActiveCheck) probe {
	switch a.Type {
	case CheckTypeHTTP:
		return newHTTPProbe(a)
	case CheckTypeTCP:
		return tcpProbe{addr: a.TCP}
	default:
		return scriptProbe{args: a.Args, timeout: a.Timeout}
	}
}

// httpUserAgent and httpAccept are the headers Consul's HTTP checks send
// unless the definition sets them, so that a service that recognises
// Consul's checks recognises these.
const (
	httpUserAgent = "Consul Health Check"
	httpAccept    = "text/plain, text/*, */*"
	// maxResponseHeader bounds the headers of a check's response.
	maxResponseHeader = 64 << 10
)

// httpProbe runs an HTTP check: 2xx is passing, 429 warning, anything
// else, or no answer, critical. At most MaxOutput bytes of the body are
// read.
type httpProbe struct {
	def    *ActiveCheck
	client *http.Client
}

func newHTTPProbe(a *ActiveCheck) httpProbe {
	tr := &http.Transport{
		// A check goes straight to its service: no proxy from the
		// environment, and a new connection each run, as Consul's.
		Proxy:                  nil,
		DialContext:            (&net.Dialer{}).DialContext,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: maxResponseHeader,
		TLSClientConfig: &tls.Config{
			ServerName: a.TLSServerName,
			// The registration asked for it (TLSSkipVerify), as Consul
			// allows: a self-signed service on the node itself.
			InsecureSkipVerify: a.TLSSkipVerify, //nolint:gosec
		},
	}
	return httpProbe{def: a, client: &http.Client{Transport: tr}}
}

func (p httpProbe) run(ctx context.Context) (string, string) {
	a := p.def
	prefix := fmt.Sprintf("HTTP %s %s: ", a.Method, a.HTTP)
	var body io.Reader
	if a.Body != "" {
		body = strings.NewReader(a.Body)
	}
	req, err := http.NewRequestWithContext(ctx, a.Method, a.HTTP, body)
	if err != nil {
		return StatusCritical, CapOutput(prefix + err.Error())
	}
	for name, vals := range a.Header {
		for _, v := range vals {
			req.Header.Add(name, v)
		}
	}
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", httpUserAgent)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", httpAccept)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return StatusCritical, CapOutput(prefix + runErr(ctx, err).Error())
	}
	out, _ := io.ReadAll(io.LimitReader(resp.Body, MaxOutput))
	resp.Body.Close()
	output := CapOutput(prefix + resp.Status + " Output: " + string(out))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		return StatusPassing, output
	case resp.StatusCode == http.StatusTooManyRequests:
		return StatusWarning, output
	}
	return StatusCritical, output
}

func (p httpProbe) close() { p.client.CloseIdleConnections() }

// tcpProbe runs a TCP check: a connection made is passing, none critical.
type tcpProbe struct{ addr string }

func (p tcpProbe) run(ctx context.Context) (string, string) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return StatusCritical, CapOutput(fmt.Sprintf("TCP connect %s: %v", p.addr, runErr(ctx, err)))
	}
	conn.Close()
	return StatusPassing, CapOutput(fmt.Sprintf("TCP connect %s: Success", p.addr))
}

func (tcpProbe) close() {}

// scriptProbe runs a script check, as Consul and Nagios plugins do: exit
// 0 is passing, 1 warning, anything else critical. The output is the
// script's stdout and stderr together, its last MaxOutput bytes. Past its
// timeout, the script and every process of its group are killed (package
// command).
type scriptProbe struct {
	args    []string
	timeout time.Duration
}

func (p scriptProbe) run(ctx context.Context) (string, string) {
	// ctx ends with the timeout, on the catalog's clock.
	res := command.Run(ctx, command.Command{Args: p.args, Timeout: -1})
	err := res.Err
	output := res.OutputString()
	if err != nil && ctx.Err() != nil {
		msg := fmt.Sprintf("Timed out (%v) running check", p.timeout)
		if runErr(ctx, nil) == nil {
			msg = "Stopped running check"
		}
		if output != "" {
			msg += "\n\n" + output
		}
		return StatusCritical, CapOutput(msg)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return StatusPassing, output
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return StatusWarning, output
	case errors.As(err, &ee):
		return StatusCritical, output
	}
	if output != "" {
		output = "\n\n" + output
	}
	return StatusCritical, CapOutput(err.Error() + output)
}

func (scriptProbe) close() {}
