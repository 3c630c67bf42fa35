package api

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Profile returns a stream of the agent's runtime profile name
// (goroutine, heap, allocs, threadcreate, block, mutex) in the pprof
// format, or with name "profile" a CPU profile of d, which the agent
// takes before it answers (cut short when ctx ends). The caller closes
// the stream. An agent without enable_debug answers 404; a client that is
// not on loopback, or whose token lacks agent write, 403 (*StatusError).
func (c *Client) Profile(ctx context.Context, name string, d time.Duration) (io.ReadCloser, error) {
	q := url.Values{}
	if name == "profile" {
		q.Set("seconds", strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/debug/pprof/" + url.PathEscape(name), query: q})
	if err != nil {
		return nil, err
	}
	if err := statusError(resp); err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// MetricsText returns the agent's metrics in the Prometheus text format,
// as GET /v1/agent/metrics?format=prometheus serves them. The caller
// closes the stream.
func (c *Client) MetricsText(ctx context.Context) (io.ReadCloser, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/v1/agent/metrics", query: url.Values{"format": {"prometheus"}}})
	if err != nil {
		return nil, err
	}
	if err := statusError(resp); err != nil {
		return nil, err
	}
	return resp.Body, nil
}
