package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/edgeplane/edgeplane/agent/render"
)

// RenderDef is one block of render: a file the agent writes from a
// template over the local store (package render). Commands are argument
// lists; "{{.Candidate}}" in an argument of check names the candidate
// file in check_mode candidate.
type RenderDef struct {
	Name           string     `yaml:"name"`
	Source         string     `yaml:"source"`
	Template       string     `yaml:"template"`
	Destination    string     `yaml:"destination"`
	Perms          string     `yaml:"perms"`
	User           string     `yaml:"user"`
	Group          string     `yaml:"group"`
	CreateDestDirs bool       `yaml:"create_dest_dirs"`
	Backup         bool       `yaml:"backup"`
	Wait           RenderWait `yaml:"wait"`
	Splay          Duration   `yaml:"splay"`
	Check          []string   `yaml:"check"`
	CheckMode      string     `yaml:"check_mode"`
	Reload         []string   `yaml:"reload"`
	CommandTimeout Duration   `yaml:"command_timeout"`
}

// RenderWait is a RenderDef's wait: render once no change came for min,
// never later than max after the first; unset, 2s and 10s.
type RenderWait struct {
	Min Duration `yaml:"min"`
	Max Duration `yaml:"max"`
}

// Spec returns the render.Spec of d, with its defaults.
func (d *RenderDef) Spec() (render.Spec, error) {
	s := render.Spec{Name: d.Name, Source: d.Source, Template: d.Template, Destination: d.Destination,
		User: d.User, Group: d.Group, CreateDestDirs: d.CreateDestDirs, Backup: d.Backup,
		WaitMin: d.Wait.Min.Duration, WaitMax: d.Wait.Max.Duration, Splay: d.Splay.Duration,
		Check: d.Check, CheckMode: d.CheckMode, Reload: d.Reload, CommandTimeout: d.CommandTimeout.Duration}
	if s.WaitMin == 0 && s.WaitMax == 0 {
		s.WaitMin, s.WaitMax = render.DefaultWaitMin, render.DefaultWaitMax
	}
	if d.Perms != "" {
		p, err := strconv.ParseUint(d.Perms, 8, 32)
		if err != nil || p > 0o777 {
			return s, &FieldError{Field: "perms", Err: invalidf("%q: octal permission bits such as \"0644\"", clip(d.Perms))}
		}
		s.Perms = os.FileMode(p)
	}
	return s, nil
}

// Validate checks d and parses its template: a syntax error names the
// template's file and line.
func (d *RenderDef) Validate() error {
	s, err := d.Spec()
	if err != nil {
		return err
	}
	err = s.Validate()
	var errs []error
	for _, e := range unjoin(err) {
		var fe *render.FieldError
		if errors.As(e, &fe) {
			e = &FieldError{Field: fe.Field, Err: invalidf("%v", fe.Err)}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// unjoin returns the errors errors.Join combined into err.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// checkRenders: names (default: the destination) are unique, as are
// destinations.
func checkRenders(list []RenderDef) error {
	names, dests := map[string]int{}, map[string]int{}
	var errs []error
	for i, d := range list {
		name := d.Name
		if name == "" {
			name = d.Destination
		}
		if j, dup := names[name]; dup {
			errs = append(errs, &FieldError{Field: fmt.Sprintf("[%d].name", i), Err: invalidf("%q is also the name of render[%d]", clip(name), j)})
		} else {
			names[name] = i
		}
		if j, dup := dests[d.Destination]; dup && d.Destination != "" {
			errs = append(errs, &FieldError{Field: fmt.Sprintf("[%d].destination", i), Err: invalidf("%q is also the destination of render[%d]", clip(d.Destination), j)})
		} else {
			dests[d.Destination] = i
		}
	}
	return errors.Join(errs...)
}
