package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/edgeplane/edgeplane/agent/proxy"
	"github.com/edgeplane/edgeplane/transport/resilience"
)

// UpstreamDef is one block of a service's upstreams: a listener on this
// node through which the service calls another (package proxy). Only
// the services of this node's configuration declare upstreams, so a
// listener always speaks for a service registered here.
type UpstreamDef struct {
	Service   string `yaml:"service"`
	LocalBind string `yaml:"local_bind"`
	Protocol  string `yaml:"protocol"`
}

// Validate checks the block: a target, a loopback-or-any host:port and a
// supported protocol (http, the default).
func (u *UpstreamDef) Validate() error {
	var errs []error
	if u.Service == "" {
		errs = append(errs, &FieldError{Field: "service", Err: invalidf("required")})
	}
	host, port, err := net.SplitHostPort(u.LocalBind)
	if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 1 || p > 65535 || net.ParseIP(host) == nil {
		errs = append(errs, &FieldError{Field: "local_bind", Err: invalidf("%q: an IP address and port such as \"127.0.0.1:9191\"", clip(u.LocalBind))})
	}
	if u.Protocol != "" && u.Protocol != string(proxy.HTTP) {
		errs = append(errs, &FieldError{Field: "protocol", Err: invalidf("%q: only http is supported", clip(u.Protocol))})
	}
	return errors.Join(errs...)
}

// CommunicationDef is one block of communication: the policy of the
// calls From one service To another through the proxy ("*" for any).
type CommunicationDef struct {
	From           string     `yaml:"from"`
	To             string     `yaml:"to"`
	Timeout        Duration   `yaml:"timeout"`
	Retry          RetryDef   `yaml:"retry"`
	CircuitBreaker BreakerDef `yaml:"circuit_breaker"`
	Balancer       string     `yaml:"balancer"`
	Locality       string     `yaml:"locality"`
	MaxConcurrent  int        `yaml:"max_concurrent"`
}

// RetryDef is a CommunicationDef's retry.
type RetryDef struct {
	Attempts      int        `yaml:"attempts"`
	PerTryTimeout Duration   `yaml:"per_try_timeout"`
	Backoff       BackoffDef `yaml:"backoff"`
}

// BackoffDef is a RetryDef's backoff.
type BackoffDef struct {
	Base Duration `yaml:"base"`
	Max  Duration `yaml:"max"`
}

// BreakerDef is a CommunicationDef's circuit_breaker.
type BreakerDef struct {
	ConsecutiveFailures int      `yaml:"consecutive_failures"`
	OpenFor             Duration `yaml:"open_for"`
}

// Rule returns the block as the proxy's rule.
func (d *CommunicationDef) Rule() proxy.Rule {
	return proxy.Rule{From: d.From, To: d.To, Policy: proxy.Policy{
		Timeout: d.Timeout.Duration, Attempts: d.Retry.Attempts, PerTryTimeout: d.Retry.PerTryTimeout.Duration,
		Backoff:  resilience.Retry{BackoffBase: d.Retry.Backoff.Base.Duration, BackoffCap: d.Retry.Backoff.Max.Duration},
		Breaker:  resilience.BreakerConfig{FailureThreshold: d.CircuitBreaker.ConsecutiveFailures, CoolDown: d.CircuitBreaker.OpenFor.Duration},
		Balancer: resilience.BalancerKind(d.Balancer), Locality: proxy.Locality(d.Locality), MaxConcurrent: d.MaxConcurrent,
	}}
}

// policyFields maps the proxy's field names to the block's.
var policyFields = map[string]string{
	"retry.backoff_base":                "retry.backoff.base",
	"retry.backoff_cap":                 "retry.backoff.max",
	"circuit_breaker.failure_threshold": "circuit_breaker.consecutive_failures",
	"circuit_breaker.cool_down":         "circuit_breaker.open_for",
}

// Validate checks the block; each error names its field.
func (d *CommunicationDef) Validate() error {
	var errs []error
	if d.From == "" {
		errs = append(errs, &FieldError{Field: "from", Err: invalidf("required (a service, or \"*\")")})
	}
	if d.To == "" {
		errs = append(errs, &FieldError{Field: "to", Err: invalidf("required (a service, or \"*\")")})
	}
	for _, err := range unjoin(d.Rule().Policy.Validate()) {
		var fe *resilience.FieldError
		if errors.As(err, &fe) {
			field := fe.Field
			if f, ok := policyFields[field]; ok {
				field = f
			}
			errs = append(errs, &FieldError{Field: field, Err: invalidf("%s", fe.Reason)})
			continue
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkCommunication: one block per pair.
func checkCommunication(list []CommunicationDef) error {
	first := make(map[[2]string]int, len(list))
	var errs []error
	for i, d := range list {
		k := [2]string{d.From, d.To}
		if j, dup := first[k]; dup {
			errs = append(errs, &FieldError{Field: fmt.Sprintf("[%d].to", i), Err: invalidf("%q → %q is also communication[%d]", clip(d.From), clip(d.To), j)})
			continue
		}
		first[k] = i
	}
	return errors.Join(errs...)
}

// ProxyUpstreams returns the upstreams of the configured services, each
// with its service's name as the caller.
func (c Config) ProxyUpstreams() []proxy.Upstream {
	var out []proxy.Upstream
	for _, s := range c.Services {
		for _, u := range s.Upstreams {
			p := proxy.Protocol(u.Protocol)
			if p == "" {
				p = proxy.HTTP
			}
			out = append(out, proxy.Upstream{Caller: s.Name, Service: u.Service, LocalBind: u.LocalBind, Protocol: p})
		}
	}
	return out
}

// ProxyRules returns the communication blocks as the proxy's rules.
func (c Config) ProxyRules() []proxy.Rule {
	out := make([]proxy.Rule, len(c.Communication))
	for i := range c.Communication {
		out[i] = c.Communication[i].Rule()
	}
	return out
}
