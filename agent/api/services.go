package api

import (
	"context"
	"io"
	"net/http"
	"net/url"
)

// AgentWeights are a service's weights by the state of its checks.
type AgentWeights struct {
	Passing int
	Warning int
}

// ServiceAddress is a tagged address of a service.
type ServiceAddress struct {
	Address string
	Port    int
}

// AgentService is Consul's AgentService: a service registered on the
// agent, an element of GET /v1/agent/services.
type AgentService struct {
	ID                string
	Service           string
	Tags              []string
	Meta              map[string]string
	Port              int
	Address           string
	TaggedAddresses   map[string]ServiceAddress `json:",omitempty"`
	Weights           AgentWeights
	EnableTagOverride bool
	Datacenter        string
}

// AgentCheck is Consul's AgentCheck: a check registered on the agent, an
// element of GET /v1/agent/checks. Type is "ttl", "http", "tcp" or
// "script"; Interval and Timeout are those of a check the agent runs.
type AgentCheck struct {
	Node        string
	CheckID     string
	Name        string
	Status      string
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	ServiceTags []string
	Type        string
	Interval    string
	Timeout     string
	Definition  AgentCheckDefinition
}

// AgentCheckDefinition is the part of a check's definition Consul
// reports with it (its HealthCheckDefinition): durations as Go strings
// ("10s"), fields that do not apply to the check's type left out. A
// script check's command is not reported.
type AgentCheckDefinition struct {
	CheckTarget
	DeregisterCriticalServiceAfter string `json:",omitempty"`
	TTL                            string `json:",omitempty"`
}

// CheckTarget is what a check the agent runs probes, and how often: an
// HTTP request (HTTP, Header, Method, Body, TLS settings) or a TCP
// connect (TCP), every Interval, each run within Timeout. Durations are
// Go strings ("10s").
type CheckTarget struct {
	HTTP          string              `json:",omitempty"`
	Header        map[string][]string `json:",omitempty"`
	Method        string              `json:",omitempty"`
	Body          string              `json:",omitempty"`
	TLSServerName string              `json:",omitempty"`
	TLSSkipVerify bool                `json:",omitempty"`
	TCP           string              `json:",omitempty"`
	Interval      string              `json:",omitempty"`
	Timeout       string              `json:",omitempty"`
}

// AgentServiceRegistration is the body of PUT /v1/agent/service/register:
// the fields of Consul's that edgeplane supports.
type AgentServiceRegistration struct {
	ID                string                    `json:",omitempty"`
	Name              string                    `json:",omitempty"`
	Tags              []string                  `json:",omitempty"`
	Port              int                       `json:",omitempty"`
	Address           string                    `json:",omitempty"`
	TaggedAddresses   map[string]ServiceAddress `json:",omitempty"`
	EnableTagOverride bool                      `json:",omitempty"`
	Meta              map[string]string         `json:",omitempty"`
	Weights           *AgentWeights             `json:",omitempty"`
	Check             *AgentServiceCheck        `json:",omitempty"`
	Checks            []*AgentServiceCheck      `json:",omitempty"`
}

// AgentServiceCheck is a check registered with a service: a TTL check
// (TTL), or one the agent runs every Interval, an HTTP (HTTP) or TCP
// (TCP) check. Script checks come only from the agent's configuration
// files: the API refuses them.
type AgentServiceCheck struct {
	CheckID string `json:",omitempty"`
	Name    string `json:",omitempty"`
	TTL     string `json:",omitempty"`
	Status  string `json:",omitempty"`
	Notes   string `json:",omitempty"`
	CheckTarget

	SuccessBeforePassing           int    `json:",omitempty"`
	FailuresBeforeWarning          int    `json:",omitempty"`
	FailuresBeforeCritical         int    `json:",omitempty"`
	DeregisterCriticalServiceAfter string `json:",omitempty"`
}

// ServiceRegister registers a service on the agent, or updates the one of
// the same ID in place. A refused registration is a 400 *StatusError
// whose message says why.
func (c *Client) ServiceRegister(ctx context.Context, reg AgentServiceRegistration) error {
	return c.ServiceRegisterJSON(ctx, jsonBody(reg))
}

// ServiceRegisterJSON registers a service from a body in Consul's JSON,
// sent as it is: the agent checks it.
func (c *Client) ServiceRegisterJSON(ctx context.Context, body io.Reader) error {
	return c.do(ctx, request{method: http.MethodPut, path: "/v1/agent/service/register", body: body}, nil)
}

// ServiceDeregister removes a service and its checks from the agent. An
// unknown ID is a 404 *StatusError.
func (c *Client) ServiceDeregister(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodPut, path: "/v1/agent/service/deregister/" + url.PathEscape(id)}, nil)
}

// Services returns the services registered on the agent, by ID.
func (c *Client) Services(ctx context.Context) (map[string]AgentService, error) {
	var out map[string]AgentService
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/agent/services"}, &out)
	return out, err
}

// Checks returns the checks registered on the agent, by ID.
func (c *Client) Checks(ctx context.Context) (map[string]AgentCheck, error) {
	var out map[string]AgentCheck
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/agent/checks"}, &out)
	return out, err
}

// CheckPass, CheckWarn and CheckFail report a TTL check passing, warning
// or critical, with note as its output. An unknown ID is a 404
// *StatusError.
func (c *Client) CheckPass(ctx context.Context, id, note string) error {
	return c.checkTTL(ctx, "pass", id, note)
}

// CheckWarn reports a TTL check warning: see CheckPass.
func (c *Client) CheckWarn(ctx context.Context, id, note string) error {
	return c.checkTTL(ctx, "warn", id, note)
}

// CheckFail reports a TTL check critical: see CheckPass.
func (c *Client) CheckFail(ctx context.Context, id, note string) error {
	return c.checkTTL(ctx, "fail", id, note)
}

func (c *Client) checkTTL(ctx context.Context, verb, id, note string) error {
	r := request{method: http.MethodPut, path: "/v1/agent/check/" + verb + "/" + url.PathEscape(id)}
	if note != "" {
		r.query = url.Values{"note": {note}}
	}
	return c.do(ctx, r, nil)
}
