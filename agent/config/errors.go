package config

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error returned by this package is an *Error (or
// several joined with errors.Join) whose chain matches exactly one of these,
// so callers can branch with errors.Is without parsing messages.
var (
	// ErrSyntax means a configuration file could not be read as YAML, holds
	// more than one document, or its top level is not a mapping.
	ErrSyntax = errors.New("config: syntax error")

	// ErrUnknownKey means a configuration file names a key that is not an
	// option. Keys are never silently ignored.
	ErrUnknownKey = errors.New("config: unknown key")

	// ErrDuplicateKey means one file sets the same key twice.
	ErrDuplicateKey = errors.New("config: duplicate key")

	// ErrType means a value could not be converted to the option's type: a
	// list where a string belongs, "abc" for a port, "3 days" for a duration.
	ErrType = errors.New("config: wrong type")

	// ErrInvalid means a value has the right type but breaks a rule: a port
	// out of range, an address that is not an IP, a key of the wrong length.
	ErrInvalid = errors.New("config: invalid value")

	// ErrSource means a file or directory named on the command line could
	// not be read.
	ErrSource = errors.New("config: cannot read source")

	// ErrNotParsed means Loader.Load was called before the flag set was
	// parsed.
	ErrNotParsed = errors.New("config: flags not parsed")
)

// Error locates one configuration problem.
//
// Source says where the offending value came from:
//
//	/etc/edgeplane/edgeplane.yaml:7:1   a key in a file (line and column)
//	/etc/edgeplane/edgeplane.yaml       the file as a whole
//	env EDGEPLANE_GOSSIP_PORT           an environment variable
//	flag -gossip-port                   a command-line flag
//	default                             the built-in default
//
// Source is empty when Config.Validate runs on a value that was not built
// by a Loader. Key is the configuration key, or empty when the problem is
// not about one key (a YAML syntax error, an unreadable file).
type Error struct {
	Source string
	Key    string
	Err    error
}

// Error formats the problem as "<source>: key "<key>": <problem>".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source)
		b.WriteString(": ")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "key %q: ", clip(e.Key))
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying problem, which matches one of the sentinels.
func (e *Error) Unwrap() error { return e.Err }

// problem is a message that belongs to a sentinel family without repeating
// the sentinel's text: errors.Is(p, ErrInvalid) holds, but the message is
// only the specific complaint ("port 70000 out of range 1-65535").
// A cause, when present, is kept in the chain too (errors.Is(err,
// fs.ErrNotExist) works for a missing file).
type problem struct {
	kind  error
	cause error
	msg   string
}

func (p *problem) Error() string { return p.msg }

func (p *problem) Unwrap() []error {
	if p.cause == nil {
		return []error{p.kind}
	}
	return []error{p.kind, p.cause}
}

func newProblem(kind error, format string, args ...any) error {
	return &problem{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// sourceError reports an unreadable file or directory (ErrSource), keeping
// the operating system's error in the chain.
func sourceError(cause error) error {
	return &problem{kind: ErrSource, cause: cause, msg: cause.Error()}
}

// invalidf reports a value that breaks a rule (ErrInvalid).
func invalidf(format string, args ...any) error {
	return newProblem(ErrInvalid, format, args...)
}

// typef reports a value of the wrong type (ErrType).
func typef(format string, args ...any) error {
	return newProblem(ErrType, format, args...)
}
