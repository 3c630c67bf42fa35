package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const defaultHTTPAddr = "127.0.0.1:8500"

// client talks to the local agent's HTTP API.
type client struct {
	base string
	http *http.Client
}

// addHTTPFlag registers -http-addr; its default comes from
// EDGEPLANE_HTTP_ADDR, then CONSUL_HTTP_ADDR, then 127.0.0.1:8500.
func addHTTPFlag(std IO, fs *flag.FlagSet) *string {
	def := defaultHTTPAddr
	for _, env := range []string{"CONSUL_HTTP_ADDR", "EDGEPLANE_HTTP_ADDR"} {
		if v, ok := std.Getenv(env); ok && v != "" {
			def = v
		}
	}
	return fs.String("http-addr", def,
		"address of the agent's HTTP API, host:port or a URL (env EDGEPLANE_HTTP_ADDR, then CONSUL_HTTP_ADDR)")
}

func newClient(addr string) *client {
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	// A bounded timeout; kv watch, which blocks, sets a longer one of its own.
	return &client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 2 * time.Minute}}
}

// apiError is a non-2xx answer.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("unexpected response code: %d", e.status)
	}
	return fmt.Sprintf("unexpected response code: %d (%s)", e.status, e.msg)
}

// do sends a request and returns the body of a 2xx answer; a 404 returns
// (nil, nil) when allowed404 is set.
func (c *client) do(method, path string, query url.Values, body []byte, allow404 bool) ([]byte, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the agent: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound && allow404 {
		return nil, nil
	}
	if resp.StatusCode/100 != 2 {
		return nil, &apiError{status: resp.StatusCode, msg: strings.TrimSpace(string(data))}
	}
	return data, nil
}

func (c *client) getJSON(path string, query url.Values, v any) (found bool, err error) {
	data, err := c.do(http.MethodGet, path, query, nil, true)
	if err != nil || data == nil {
		return false, err
	}
	return true, json.Unmarshal(data, v)
}

// kvPath escapes a key for a /v1/kv/ URL path.
func kvPath(key string) string {
	return "/v1/kv/" + (&url.URL{Path: key}).EscapedPath()
}
