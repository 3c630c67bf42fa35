package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DefaultAddress is the agent's HTTP API address when none is given: the
// address Consul's tools look at first.
const DefaultAddress = "127.0.0.1:8500"

// maxErrorBody bounds what is read of an error answer.
const maxErrorBody = 64 << 10

// ErrUnreachable is matched (errors.Is) by the error of a call that got no
// answer at all: nothing listens at the address, the connection was
// refused or reset, the name does not resolve.
var ErrUnreachable = errors.New("cannot reach the agent")

// ErrStreamEnded is returned by Monitor when the agent ended the stream:
// it is shutting down.
var ErrStreamEnded = errors.New("the agent ended the stream")

// StatusError is an answer other than 2xx.
type StatusError struct {
	Code    int    // the HTTP status
	Message string // the agent's message, trimmed; may be empty
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("unexpected response code: %d", e.Code)
	}
	return fmt.Sprintf("unexpected response code: %d (%s)", e.Code, e.Message)
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// Config says how a Client reaches its agent.
type Config struct {
	// Address is the agent's HTTP API: host:port, or a URL with scheme
	// http or https. Empty means DefaultAddress.
	Address string
	// HTTPClient sends the requests. Nil means a client of the Client's
	// own, without a timeout: each call's context bounds it.
	HTTPClient *http.Client
	// Token is sent with every request as X-Consul-Token, as Consul's
	// client sends it, for an agent whose API requires tokens. Empty
	// sends none: the anonymous token.
	Token string
}

// Client calls one agent's HTTP API. It is safe for concurrent use.
type Client struct {
	base  string // scheme://host:port, no trailing slash
	http  *http.Client
	token string
}

// NewClient returns a client of the agent at cfg.Address. It fails only
// on an address that is not host:port or an http(s) URL.
func NewClient(cfg Config) (*Client, error) {
	addr := cfg.Address
	if addr == "" {
		addr = DefaultAddress
	}
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("api: address %q: %w", addr, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("api: address %q: want host:port or an http(s) URL", addr)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimRight(base, "/"), http: hc, token: cfg.Token}, nil
}

// Token returns the token the client sends ("" for none), so that a
// caller that records answers can keep it out of them.
func (c *Client) Token() string { return c.token }

// Address returns the base URL of the agent's API.
func (c *Client) Address() string { return c.base }

// request is one call: what to send and where.
type request struct {
	method string
	path   string // escaped
	query  url.Values
	body   io.Reader
}

// send sends r and returns the answer, whatever its status. A request
// that got no answer returns an error matching ErrUnreachable, unless ctx
// ended first.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, r.body)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	if c.token != "" {
		req.Header.Set("X-Consul-Token", c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is said once, below
		}
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, c.base, err)
	}
	return resp, nil
}

// statusError reads a non-2xx answer into a *StatusError and closes its
// body; it returns nil for a 2xx answer.
func statusError(resp *http.Response) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return &StatusError{Code: resp.StatusCode, Message: strings.TrimSpace(string(msg))}
}

// do sends r and decodes a 2xx answer's JSON body into out (nil: the body
// is discarded).
func (c *Client) do(ctx context.Context, r request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	if err := statusError(resp); err != nil {
		return err
	}
	defer resp.Body.Close()
	return decode(resp.Body, out)
}

// decode reads a JSON answer into out, or discards it when out is nil.
func decode(body io.Reader, out any) error {
	if out == nil {
		_, err := io.Copy(io.Discard, body)
		return err
	}
	if err := json.NewDecoder(body).Decode(out); err != nil {
		return fmt.Errorf("api: malformed answer: %w", err)
	}
	return nil
}

// jsonBody encodes v as a request body.
func jsonBody(v any) io.Reader {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Errorf("api: a request body did not marshal: %w", err)) // only our own types are sent
	}
	return bytes.NewReader(b)
}

// decodeString decodes the JSON in s into out.
func decodeString(s string, out any) error { return json.Unmarshal([]byte(s), out) }
