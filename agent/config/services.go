package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/edgeplane/edgeplane/agent/catalog"
)

// ServiceDef is one block of services: a service this node registers
// from its configuration, with the fields of Consul's registration
// (PUT /v1/agent/service/register) in snake_case. The agent registers
// the definitions at start and on reload registers new and changed ones
// and deregisters those removed; services registered through the API are
// left alone. Each definition is converted to the registration's JSON
// and checked by the catalog's own parser, so both sources obey the same
// rules: see package catalog.
type ServiceDef struct {
	ID                string                 `yaml:"id"`
	Name              string                 `yaml:"name"`
	Tags              []string               `yaml:"tags"`
	Address           string                 `yaml:"address"`
	Port              int                    `yaml:"port"`
	Meta              map[string]string      `yaml:"meta"`
	TaggedAddresses   map[string]ServiceAddr `yaml:"tagged_addresses"`
	EnableTagOverride bool                   `yaml:"enable_tag_override"`
	Weights           ServiceWeights         `yaml:"weights"`
	Check             CheckDef               `yaml:"check"`
	Checks            []CheckDef             `yaml:"checks"`
	// Upstreams are the services this one calls through the proxy; not
	// part of the registration.
	Upstreams []UpstreamDef `yaml:"upstreams"`
}

// ServiceAddr is a tagged address of a ServiceDef.
type ServiceAddr struct {
	Address string `yaml:"address"`
	Port    int    `yaml:"port"`
}

// ServiceWeights are a ServiceDef's weights; unset, Consul's {1, 1}.
type ServiceWeights struct {
	Passing int `yaml:"passing"`
	Warning int `yaml:"warning"`
}

// CheckDef is a check of a ServiceDef, with the fields of Consul's
// AgentServiceCheck in snake_case. Which kinds of check the agent runs
// is the catalog's business: it refuses the others by name.
type CheckDef struct {
	ID                             string              `yaml:"id"`
	Name                           string              `yaml:"name"`
	Notes                          string              `yaml:"notes"`
	Status                         string              `yaml:"status"`
	TTL                            Duration            `yaml:"ttl"`
	Args                           []string            `yaml:"args"`
	Interval                       Duration            `yaml:"interval"`
	Timeout                        Duration            `yaml:"timeout"`
	HTTP                           string              `yaml:"http"`
	Method                         string              `yaml:"method"`
	Header                         map[string][]string `yaml:"header"`
	Body                           string              `yaml:"body"`
	TLSServerName                  string              `yaml:"tls_server_name"`
	TLSSkipVerify                  bool                `yaml:"tls_skip_verify"`
	TCP                            string              `yaml:"tcp"`
	SuccessBeforePassing           int                 `yaml:"success_before_passing"`
	FailuresBeforeWarning          int                 `yaml:"failures_before_warning"`
	FailuresBeforeCritical         int                 `yaml:"failures_before_critical"`
	DeregisterCriticalServiceAfter Duration            `yaml:"deregister_critical_service_after"`
}

// wireService and wireCheck are Consul's registration JSON.
type wireService struct {
	ID                string                     `json:",omitempty"`
	Name              string                     `json:",omitempty"`
	Tags              []string                   `json:",omitempty"`
	Address           string                     `json:",omitempty"`
	Port              int                        `json:",omitempty"`
	Meta              map[string]string          `json:",omitempty"`
	TaggedAddresses   map[string]catalog.Address `json:",omitempty"`
	EnableTagOverride bool                       `json:",omitempty"`
	Weights           *catalog.Weights           `json:",omitempty"`
	Check             *wireCheck                 `json:",omitempty"`
	Checks            []wireCheck                `json:",omitempty"`
}

type wireCheck struct {
	CheckID                        string              `json:",omitempty"`
	Name                           string              `json:",omitempty"`
	Notes                          string              `json:",omitempty"`
	Status                         string              `json:",omitempty"`
	TTL                            string              `json:",omitempty"`
	Args                           []string            `json:",omitempty"`
	Interval                       string              `json:",omitempty"`
	Timeout                        string              `json:",omitempty"`
	HTTP                           string              `json:",omitempty"`
	Method                         string              `json:",omitempty"`
	Header                         map[string][]string `json:",omitempty"`
	Body                           string              `json:",omitempty"`
	TLSServerName                  string              `json:",omitempty"`
	TLSSkipVerify                  bool                `json:",omitempty"`
	TCP                            string              `json:",omitempty"`
	SuccessBeforePassing           int                 `json:",omitempty"`
	FailuresBeforeWarning          int                 `json:",omitempty"`
	FailuresBeforeCritical         int                 `json:",omitempty"`
	DeregisterCriticalServiceAfter string              `json:",omitempty"`
}

// RegistrationJSON returns the definition as Consul's registration JSON,
// the body PUT /v1/agent/service/register takes.
func (s *ServiceDef) RegistrationJSON() ([]byte, error) {
	w := wireService{ID: s.ID, Name: s.Name, Tags: s.Tags, Address: s.Address, Port: s.Port, Meta: s.Meta,
		EnableTagOverride: s.EnableTagOverride}
	if len(s.TaggedAddresses) > 0 {
		w.TaggedAddresses = make(map[string]catalog.Address, len(s.TaggedAddresses))
		for k, v := range s.TaggedAddresses {
			w.TaggedAddresses[k] = catalog.Address{Address: v.Address, Port: v.Port}
		}
	}
	if s.Weights != (ServiceWeights{}) {
		w.Weights = &catalog.Weights{Passing: s.Weights.Passing, Warning: s.Weights.Warning}
	}
	if !reflect.ValueOf(s.Check).IsZero() {
		c := s.Check.wire()
		w.Check = &c
	}
	for i := range s.Checks {
		w.Checks = append(w.Checks, s.Checks[i].wire())
	}
	return json.Marshal(&w)
}

func (c *CheckDef) wire() wireCheck {
	d := func(v Duration) string {
		if v.Duration == 0 {
			return ""
		}
		return v.Duration.String()
	}
	return wireCheck{CheckID: c.ID, Name: c.Name, Notes: c.Notes, Status: c.Status, TTL: d(c.TTL), Args: c.Args,
		Interval: d(c.Interval), Timeout: d(c.Timeout), HTTP: c.HTTP, Method: c.Method, Header: c.Header, Body: c.Body,
		TLSServerName: c.TLSServerName, TLSSkipVerify: c.TLSSkipVerify, TCP: c.TCP,
		SuccessBeforePassing: c.SuccessBeforePassing, FailuresBeforeWarning: c.FailuresBeforeWarning,
		FailuresBeforeCritical: c.FailuresBeforeCritical, DeregisterCriticalServiceAfter: d(c.DeregisterCriticalServiceAfter)}
}

// Registration returns the definition as the catalog registers it,
// parsed by the catalog's parser with the configuration as its source.
func (s *ServiceDef) Registration() (catalog.Registration, error) {
	body, err := s.RegistrationJSON()
	if err != nil {
		return catalog.Registration{}, invalidf("%v", err)
	}
	reg, err := catalog.ParseRegistrationWith(body, catalog.ParseOptions{Source: catalog.SourceConfig, LocalScriptChecks: true})
	if err != nil {
		return catalog.Registration{}, invalidf("%v", err)
	}
	return reg, nil
}

// Validate checks the definition with the catalog's parser.
func (s *ServiceDef) Validate() error {
	_, err := s.Registration()
	return err
}

// ServiceRegistrations returns the registrations of Services, in order.
func (c Config) ServiceRegistrations() ([]catalog.Registration, error) {
	regs := make([]catalog.Registration, 0, len(c.Services))
	for i := range c.Services {
		reg, err := c.Services[i].Registration()
		if err != nil {
			return nil, fmt.Errorf("services[%d]: %w", i, err)
		}
		regs = append(regs, reg)
	}
	return regs, nil
}

// checkServices is the rule on the whole list: no two definitions share
// an ID (the name when no ID is given).
func checkServices(list []ServiceDef) error {
	first := make(map[string]int, len(list))
	var errs []error
	for i := range list {
		id := list[i].ID
		if id == "" {
			id = list[i].Name
		}
		if j, dup := first[id]; dup {
			errs = append(errs, &FieldError{Field: fmt.Sprintf("[%d].id", i), Err: invalidf("%q is also the ID of services[%d]", clip(id), j)})
			continue
		}
		first[id] = i
	}
	return errors.Join(errs...)
}

// checkSyncInterval: anti-entropy more often than every second would
// rewrite records as fast as a check reports.
func checkSyncInterval(d Duration) error {
	if d.Duration < time.Second {
		return invalidf("duration %s must be at least 1s", d)
	}
	return nil
}
