package api

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
)

// maxLogLine bounds one streamed log line.
const maxLogLine = 1 << 20

// SetLogLevel sets the agent's own log level (debug, info, warn or error)
// until it restarts or reloads.
func (c *Client) SetLogLevel(ctx context.Context, level string) error {
	return c.do(ctx, request{method: http.MethodPut, path: "/v1/edgeplane/log-level", query: url.Values{"level": {level}}}, nil)
}

// Monitor streams the agent's log lines at level (trace, debug, info,
// warn or err; "" for info), as JSON with json, calling fn with each line
// (without its newline) until ctx ends, which returns nil, or the stream
// fails. The level is the stream's alone: the agent's own does not change.
func (c *Client) Monitor(ctx context.Context, level string, json bool, fn func(line string)) error {
	q := url.Values{}
	if level != "" {
		q.Set("loglevel", level)
	}
	if json {
		q.Set("logjson", "")
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/v1/agent/monitor", query: q})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if err := statusError(resp); err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), maxLogLine)
	for sc.Scan() {
		fn(sc.Text())
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return ErrStreamEnded
}
