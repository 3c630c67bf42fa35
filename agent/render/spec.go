package render

import (
	"errors"
	"fmt"
	template "github.com/edgeplane/edgeplane/agent/render/internal/tmpl"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults of a Spec, consul-template's.
const (
	DefaultWaitMin        = 2 * time.Second
	DefaultWaitMax        = 10 * time.Second
	DefaultCommandTimeout = 30 * time.Second
	DefaultPerms          = os.FileMode(0o644)
)

// Check modes.
const (
	// CheckCandidate runs check on the candidate file, {{.Candidate}},
	// before it replaces the destination.
	CheckCandidate = "candidate"
	// CheckSwapped moves the candidate into place, then runs check; on
	// failure the previous file is put back at once.
	CheckSwapped = "swapped"
)

// MaxTemplateBytes bounds a template's text and MaxOutputBytes a render.
const (
	MaxTemplateBytes = 1 << 20
	MaxOutputBytes   = 16 << 20
)

// Spec is one render block as configured.
type Spec struct {
	// Name names the block in its status, its check
	// (edgeplane:render:<name>) and its metric; default: Destination.
	Name string
	// Source is a template file; Template an inline template. One of
	// them.
	Source   string
	Template string
	// Destination is the file written.
	Destination string
	// Perms is the destination's mode; 0: the previous file's, or 0644.
	Perms os.FileMode
	// User and Group own the destination (names or numeric ids); empty:
	// the agent's.
	User, Group string
	// CreateDestDirs creates the destination's directory when missing.
	CreateDestDirs bool
	// Backup keeps the previous file as <destination>.bak.
	Backup bool
	// WaitMin and WaitMax: a change is rendered once there has been no
	// other for WaitMin, and never later than WaitMax after the first.
	// Zero WaitMin renders at once.
	WaitMin, WaitMax time.Duration
	// Splay is the upper bound of a random delay before Reload.
	Splay time.Duration
	// Check validates a new file; an argument list, "{{.Candidate}}" in
	// an argument standing for the candidate file in candidate mode.
	Check []string
	// CheckMode is CheckCandidate (default) or CheckSwapped.
	CheckMode string
	// Reload runs after the file changed; an argument list.
	Reload []string
	// CommandTimeout bounds Check and Reload (default 30 s).
	CommandTimeout time.Duration
}

// withDefaults returns s with its defaults filled in.
func (s Spec) withDefaults() Spec {
	if s.Name == "" {
		s.Name = s.Destination
	}
	if s.CheckMode == "" {
		s.CheckMode = CheckCandidate
	}
	if s.CommandTimeout == 0 {
		s.CommandTimeout = DefaultCommandTimeout
	}
	return s
}

// FieldError blames a field of a Spec; Field is its configuration name.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// ErrTemplate is the family of template errors: syntax (with the file
// and line), an unknown function, a source that cannot be read.
var ErrTemplate = errors.New("template")

// Validate checks s and parses its template. Its errors are *FieldError
// values, joined.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf(format, args...)})
	}
	switch {
	case s.Source == "" && s.Template == "":
		bad("source", "one of source and template is required")
	case s.Source != "" && s.Template != "":
		bad("template", "given with source: one of them")
	case s.Source != "" && !filepath.IsAbs(s.Source):
		bad("source", "%q: an absolute path is required", s.Source)
	}
	if s.Destination == "" {
		bad("destination", "required")
	} else if !filepath.IsAbs(s.Destination) {
		bad("destination", "%q: an absolute path is required", s.Destination)
	}
	if strings.ContainsAny(s.Name, " \t\n{}\"") {
		bad("name", "%q: no spaces, braces or quotes", s.Name)
	}
	if s.Perms&^os.ModePerm != 0 {
		bad("perms", "%o: permission bits only", s.Perms)
	}
	if s.WaitMin < 0 || s.WaitMax < 0 {
		bad("wait", "negative")
	} else if s.WaitMax != 0 && s.WaitMax < s.WaitMin {
		bad("wait", "max %v below min %v", s.WaitMax, s.WaitMin)
	}
	if s.Splay < 0 {
		bad("splay", "negative")
	}
	if s.CommandTimeout < 0 {
		bad("command_timeout", "negative")
	}
	switch s.CheckMode {
	case "", CheckCandidate, CheckSwapped:
	default:
		bad("check_mode", "%q: candidate or swapped", s.CheckMode)
	}
	if s.CheckMode == CheckSwapped && len(s.Check) == 0 {
		bad("check_mode", "swapped needs a check")
	}
	if len(s.Check) > 0 && s.Check[0] == "" || len(s.Reload) > 0 && s.Reload[0] == "" {
		bad("check", "an empty program name")
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if _, err := s.Parse(); err != nil {
		field := "template"
		if s.Source != "" {
			field = "source"
		}
		return &FieldError{Field: field, Err: err}
	}
	return nil
}

// Parse reads and parses s's template. A syntax error names the source
// file (or "template" for an inline one) and the line.
func (s *Spec) Parse() (*template.Template, error) {
	t, _, err := s.parse()
	return t, err
}

// parse is Parse, and the template's text.
func (s *Spec) parse() (*template.Template, string, error) {
	name, text := "template", s.Template
	if s.Source != "" {
		b, err := readLimited(s.Source, MaxTemplateBytes)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %w", ErrTemplate, err)
		}
		name, text = s.Source, string(b)
	} else if len(text) > MaxTemplateBytes {
		return nil, "", fmt.Errorf("%w: more than %d bytes", ErrTemplate, MaxTemplateBytes)
	}
	// A missing map key is the zero value, as consul-template's default
	// (err_on_missing_key false) has it: {{if .ServiceMeta.x}} works.
	t, err := template.New(name).Option("missingkey=zero").Funcs(funcStubs).Parse(text)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s", ErrTemplate, strings.TrimPrefix(err.Error(), "template: "))
	}
	return t, text, nil
}

// readLimited reads path, failing past limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than %d bytes", path, limit)
	}
	return b, nil
}
