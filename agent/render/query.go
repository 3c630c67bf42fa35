package render

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// ServiceQuery is the argument of service, in consul-template's form
// "[tag.]name[@dc][~near][|filter]": "web", "prod.web", "web~_agent",
// "web|any", "web|passing,warning".
type ServiceQuery struct {
	Tag, Name string
	// Datacenter is @dc; only the agent's own is served.
	Datacenter string
	// Near is ~near, accepted for compatibility: instances are sorted by
	// node, then ID, whatever it says.
	Near string
	// Statuses are the health statuses kept; nil keeps every one
	// ("any"). Default: passing only.
	Statuses []string
}

// ErrQuery reports a service query that does not parse.
var ErrQuery = errors.New("render: bad service query")

// maxQueryLen bounds a service query.
const maxQueryLen = 512

var queryRE = regexp.MustCompile(`\A(?:([[:word:]=:.\-]+)\.)?([[:word:]\-]+)(?:@([[:word:].\-]+))?(?:~([[:word:].\-]+))?\z`)

// statuses a filter may name.
var filterStatuses = []string{"passing", "warning", "critical", "maintenance"}

// ParseServiceQuery parses s.
func ParseServiceQuery(s string) (ServiceQuery, error) {
	if len(s) > maxQueryLen {
		return ServiceQuery{}, fmt.Errorf("%w: more than %d bytes", ErrQuery, maxQueryLen)
	}
	q := ServiceQuery{Statuses: []string{"passing"}}
	body, filter, hasFilter := strings.Cut(s, "|")
	if hasFilter {
		statuses, err := parseFilter(filter)
		if err != nil {
			return ServiceQuery{}, fmt.Errorf("%w: %q: %w", ErrQuery, s, err)
		}
		q.Statuses = statuses
	}
	m := queryRE.FindStringSubmatch(body)
	if m == nil {
		return ServiceQuery{}, fmt.Errorf("%w: %q: want [tag.]name[@dc][~near][|filter]", ErrQuery, s)
	}
	q.Tag, q.Name, q.Datacenter, q.Near = m[1], m[2], m[3], m[4]
	return q, nil
}

// parseFilter parses "any" or a comma-separated list of statuses.
func parseFilter(f string) ([]string, error) {
	if f == "any" {
		return nil, nil
	}
	var out []string
	for _, st := range strings.Split(f, ",") {
		st = strings.TrimSpace(st)
		if !slices.Contains(filterStatuses, st) {
			return nil, fmt.Errorf("status %q: any, or a list of passing, warning, critical, maintenance", st)
		}
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	return out, nil
}

// keeps reports whether an instance of status passes q's filter.
func (q *ServiceQuery) keeps(status string) bool {
	return q.Statuses == nil || slices.Contains(q.Statuses, status)
}
