package layers

import (
	"errors"
	"fmt"
	"strings"
)

// Default is the default list of layers, most specific first.
var Default = []string{"node/{{node}}", "site/{{site}}", "env/{{env}}", "global"}

// MaxLayers is the most layers a configuration may list.
const MaxLayers = 16

// ErrInvalidTemplate is wrapped by every error of CheckTemplates.
var ErrInvalidTemplate = errors.New("invalid layer")

// Placeholders of a layer template.
const (
	PlaceholderNode = "{{node}}"
	PlaceholderSite = "{{site}}"
	PlaceholderEnv  = "{{env}}"
)

var placeholders = []string{PlaceholderNode, PlaceholderSite, PlaceholderEnv}

// Names are the values of the placeholders on one node.
type Names struct {
	Node string // {{node}}: the node's name
	Site string // {{site}}: its site; "" skips layers that name it
	Env  string // {{env}}: its environment; "" skips layers that name it
}

// CheckTemplates checks a list of layer templates: 1 to MaxLayers
// entries, each non-empty, neither starting nor ending with '/', without
// empty segments, with no placeholder other than {{node}}, {{site}} and
// {{env}}, and no entry listed twice. Each problem is an error wrapping
// ErrInvalidTemplate that names the entry.
func CheckTemplates(ts []string) error {
	if len(ts) == 0 {
		return fmt.Errorf("%w: no layers listed", ErrInvalidTemplate)
	}
	if len(ts) > MaxLayers {
		return fmt.Errorf("%w: %d layers listed, at most %d allowed", ErrInvalidTemplate, len(ts), MaxLayers)
	}
	var errs []error
	seen := make(map[string]bool, len(ts))
	for i, t := range ts {
		if err := checkTemplate(t); err != nil {
			errs = append(errs, fmt.Errorf("%w %d (%q): %s", ErrInvalidTemplate, i, t, err))
			continue
		}
		if seen[t] {
			errs = append(errs, fmt.Errorf("%w %d (%q): listed twice", ErrInvalidTemplate, i, t))
		}
		seen[t] = true
	}
	return errors.Join(errs...)
}

func checkTemplate(t string) error {
	switch {
	case t == "":
		return errors.New("empty")
	case strings.HasPrefix(t, "/"):
		return errors.New("starts with '/': layers are key prefixes, without a leading '/'")
	case strings.HasSuffix(t, "/"):
		return errors.New("ends with '/': the '/' before the key is added")
	case strings.Contains(t, "//"):
		return errors.New("has an empty segment ('//')")
	}
	rest := t
	for _, p := range placeholders {
		rest = strings.ReplaceAll(rest, p, "")
	}
	if i := strings.Index(rest, "{{"); i >= 0 {
		return fmt.Errorf("unknown placeholder near %q; use {{node}}, {{site}} or {{env}}", clip(rest[i:]))
	}
	if strings.Contains(rest, "}}") {
		return errors.New("stray '}}'")
	}
	return nil
}

func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// expand returns the layer t names for names, and false when a
// placeholder it holds is empty (the layer is skipped).
func expand(t string, n Names) (string, bool) {
	for _, r := range []struct{ p, v string }{
		{PlaceholderNode, n.Node}, {PlaceholderSite, n.Site}, {PlaceholderEnv, n.Env},
	} {
		if !strings.Contains(t, r.p) {
			continue
		}
		if r.v == "" {
			return "", false
		}
		t = strings.ReplaceAll(t, r.p, r.v)
	}
	return t, true
}
