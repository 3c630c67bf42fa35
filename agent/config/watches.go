package config

import (
	"errors"

	"github.com/edgeplane/edgeplane/agent/watch"
)

// WatchDef is one block of watches: an exec watch, with the fields of
// Consul's watch definition in its spelling (passingonly, handler_type)
// plus timeout and wait. The agent runs its handler with the watched
// view's JSON at start and at each change; see package watch.
type WatchDef struct {
	// Type is key, keyprefix, services, service or checks.
	Type    string `yaml:"type"`
	Key     string `yaml:"key"`
	Prefix  string `yaml:"prefix"`
	Service string `yaml:"service"`
	// Tag keeps, for a service watch, the instances with all these tags.
	Tag         []string `yaml:"tag"`
	PassingOnly bool     `yaml:"passingonly"`
	// State is a checks watch's state: any, passing, warning, critical.
	State string `yaml:"state"`
	// Token is the ACL token the watch reads with.
	Token string `yaml:"token"`
	// Stale is accepted for Consul's definitions and changes nothing:
	// every read is local.
	Stale bool `yaml:"stale"`
	// HandlerType is script, the only kind (Consul's http is refused).
	HandlerType string `yaml:"handler_type"`
	// Args is the handler: a program and its arguments, no shell.
	Args []string `yaml:"args"`
	// Handler is the handler as a shell command line (Consul's older
	// form), run with /bin/sh -c.
	Handler string `yaml:"handler"`
	// Timeout bounds a run of the handler; default 30s.
	Timeout Duration `yaml:"timeout"`
	// Wait paces the runs after the first; default none.
	Wait WatchWait `yaml:"wait"`
}

// WatchWait is a watch's wait: a change is handed to the handler once
// there has been none for min, and never later than max (default 4×min)
// after the first.
type WatchWait struct {
	Min Duration `yaml:"min"`
	Max Duration `yaml:"max"`
}

// Spec returns the definition as the watch package runs it.
func (w *WatchDef) Spec() watch.Spec {
	return watch.Spec{Type: w.Type, Key: w.Key, Prefix: w.Prefix, Service: w.Service, Tags: w.Tag,
		PassingOnly: w.PassingOnly, State: w.State, Token: w.Token, Args: w.Args, Shell: w.Handler,
		Timeout: w.Timeout.Duration, WaitMin: w.Wait.Min.Duration, WaitMax: w.Wait.Max.Duration}
}

// Validate checks the definition with the watch package's rules, each
// problem blamed on its field.
func (w *WatchDef) Validate() error {
	var errs []error
	switch w.HandlerType {
	case "", "script":
	case "http":
		errs = append(errs, &FieldError{Field: "handler_type", Err: invalidf("http handlers are not supported: run a program (args) that makes the request")})
	default:
		errs = append(errs, &FieldError{Field: "handler_type", Err: invalidf("%q: script is the only handler type", clip(w.HandlerType))})
	}
	spec := w.Spec()
	err := spec.Validate()
	if err == nil {
		return errors.Join(errs...)
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		var fe *watch.FieldError
		if errors.As(e, &fe) {
			errs = append(errs, &FieldError{Field: fe.Field, Err: invalidf("%v", fe.Err)})
			continue
		}
		errs = append(errs, invalidf("%v", e))
	}
	return errors.Join(errs...)
}
