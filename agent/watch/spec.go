package watch

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Watch types, Consul's names.
const (
	TypeKey       = "key"
	TypeKeyPrefix = "keyprefix"
	TypeServices  = "services"
	TypeService   = "service"
	TypeChecks    = "checks"
)

// Types lists the watch types, in the order the documentation gives them.
var Types = []string{TypeKey, TypeKeyPrefix, TypeServices, TypeService, TypeChecks}

// Check states a checks watch may select, Consul's.
var checkStates = []string{"any", "passing", "warning", "critical"}

// Spec is one watch: what to read and the handler to give it to. Its
// fields are those of a Consul watch definition.
type Spec struct {
	// Type is key, keyprefix, services, service or checks.
	Type string
	// Key is the key a key watch reads.
	Key string
	// Prefix is the prefix a keyprefix watch lists.
	Prefix string
	// Service is the service a service watch reads the instances of, or a
	// checks watch the checks of.
	Service string
	// Tags keep, for a service watch, the instances that have them all.
	Tags []string
	// PassingOnly keeps, for a service watch, the instances whose checks
	// all pass.
	PassingOnly bool
	// State is the state whose checks a checks watch reads (any, passing,
	// warning, critical); with neither State nor Service, any.
	State string
	// Token is the ACL token the reads are made with; empty, the
	// anonymous token's rules apply.
	Token string

	// Args is the handler, run without a shell.
	Args []string
	// Shell is the handler as a shell command line, when Args is empty
	// (Consul's handler string).
	Shell string
	// Timeout bounds a handler run; zero is command.DefaultTimeout.
	Timeout time.Duration
	// WaitMin and WaitMax pace runs after the first: a change is handed
	// to the handler once there has been none for WaitMin, and never
	// later than WaitMax after the first change. Zero WaitMin: at once.
	WaitMin, WaitMax time.Duration
}

// ErrInvalid matches every problem Spec.Validate reports.
var ErrInvalid = errors.New("watch: invalid")

// FieldError blames one field of a Spec; Field is Consul's name for it.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: &problem{fmt.Sprintf(format, args...)}}
}

// problem is an invalid value's description; it matches ErrInvalid.
type problem struct{ msg string }

func (p *problem) Error() string        { return p.msg }
func (p *problem) Is(target error) bool { return target == ErrInvalid }

// Validate reports every problem of s, each a *FieldError.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) { errs = append(errs, invalid(field, format, args...)) }
	unused := func(field string, set bool) {
		if set {
			bad(field, "a %s watch does not take it", s.Type)
		}
	}
	switch s.Type {
	case TypeKey:
		if s.Key == "" {
			bad("key", "a key watch needs the key")
		}
	case TypeKeyPrefix:
		if s.Prefix == "" {
			bad("prefix", "a keyprefix watch needs the prefix (Consul refuses an empty one too)")
		}
	case TypeServices:
	case TypeService:
		if s.Service == "" {
			bad("service", "a service watch needs the service")
		}
	case TypeChecks:
		if s.Service != "" && s.State != "" {
			bad("state", "give service or state, not both")
		}
		if s.State != "" && !slices.Contains(checkStates, s.State) {
			bad("state", "%q: one of %s", s.State, strings.Join(checkStates, ", "))
		}
	case "":
		bad("type", "missing: one of %s", strings.Join(Types, ", "))
	default:
		bad("type", "%q: one of %s", s.Type, strings.Join(Types, ", "))
	}
	if s.Type != "" && slices.Contains(Types, s.Type) {
		unused("key", s.Type != TypeKey && s.Key != "")
		unused("prefix", s.Type != TypeKeyPrefix && s.Prefix != "")
		unused("service", s.Type != TypeService && s.Type != TypeChecks && s.Service != "")
		unused("tag", s.Type != TypeService && len(s.Tags) > 0)
		unused("passingonly", s.Type != TypeService && s.PassingOnly)
		unused("state", s.Type != TypeChecks && s.State != "")
	}
	switch {
	case len(s.Args) == 0 && s.Shell == "":
		bad("args", "the handler is missing: give args (or a shell command line in handler)")
	case len(s.Args) > 0 && s.Shell != "":
		bad("handler", "give args or handler, not both")
	case len(s.Args) > 0 && s.Args[0] == "":
		bad("args", "the program is empty")
	}
	if s.Timeout < 0 {
		bad("timeout", "negative")
	}
	if s.WaitMin < 0 || s.WaitMax < 0 {
		bad("wait", "negative")
	}
	if s.WaitMax > 0 && s.WaitMax < s.WaitMin {
		bad("wait.max", "%v is less than wait.min %v", s.WaitMax, s.WaitMin)
	}
	return errors.Join(errs...)
}

// String names the watch in logs: its type and what it reads.
func (s *Spec) String() string {
	switch s.Type {
	case TypeKey:
		return "key:" + s.Key
	case TypeKeyPrefix:
		return "keyprefix:" + s.Prefix
	case TypeService:
		return "service:" + s.Service
	case TypeChecks:
		switch {
		case s.Service != "":
			return "checks:service:" + s.Service
		case s.State != "":
			return "checks:state:" + s.State
		}
		return "checks:state:any"
	}
	return s.Type
}

// request is the read of the local HTTP API the watch makes: the request
// a Consul watch of its type makes of its agent.
func (s *Spec) request() Request {
	q := url.Values{}
	var path string
	switch s.Type {
	case TypeKey:
		path = "/v1/kv/" + s.Key
	case TypeKeyPrefix:
		path = "/v1/kv/" + s.Prefix
		q.Set("recurse", "")
	case TypeServices:
		path = "/v1/catalog/services"
	case TypeService:
		path = "/v1/health/service/" + s.Service
		for _, t := range s.Tags {
			q.Add("tag", t)
		}
		if s.PassingOnly {
			q.Set("passing", "")
		}
	case TypeChecks:
		switch {
		case s.Service != "":
			path = "/v1/health/checks/" + s.Service
		case s.State != "":
			path = "/v1/health/state/" + s.State
		default:
			path = "/v1/health/state/any"
		}
	}
	return Request{Path: path, Query: q, Token: s.Token}
}

// payload turns the API's answer into what a Consul handler of the
// watch's type reads on stdin: a key watch gets the entry itself, not the
// one-element list GET /v1/kv/<key> answers, and null when the key is
// missing; a keyprefix watch gets null when nothing is under the prefix.
// Any other status than 200 (and 404 for the key types) is an error.
func (s *Spec) payload(r Response) ([]byte, error) {
	switch {
	case r.Status == http.StatusNotFound && (s.Type == TypeKey || s.Type == TypeKeyPrefix):
		return []byte("null\n"), nil
	case r.Status != http.StatusOK:
		return nil, fmt.Errorf("%s %s: %d %s", s.String(), r.Path, r.Status, clip(r.Body))
	}
	body := r.Body
	if s.Type == TypeKey {
		var list []json.RawMessage
		if err := json.Unmarshal(body, &list); err != nil || len(list) != 1 {
			return nil, fmt.Errorf("%s: the API answered something else than one entry (%v)", s.String(), err)
		}
		body = list[0]
	}
	// Consul encodes the handler's input with a json.Encoder: one line.
	if len(body) == 0 || body[len(body)-1] != '\n' {
		body = append(body[:len(body):len(body)], '\n')
	}
	return body, nil
}

// clip shortens an error body for a log line.
func clip(b []byte) string {
	const n = 200
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
