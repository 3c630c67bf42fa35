package layers

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestCheckTemplates(t *testing.T) {
	many := make([]string, MaxLayers+1)
	for i := range many {
		many[i] = fmt.Sprintf("l%d", i)
	}
	cases := []struct {
		name string
		ts   []string
		want string // "" accepted, else part of the error
	}{
		{"default", Default, ""},
		{"literal and placeholders", []string{"x/{{node}}-{{site}}", "y/{{env}}/z", "g"}, ""},
		{"none", nil, "no layers"},
		{"too many", many, "at most 16"},
		{"empty entry", []string{"node/{{node}}", ""}, "empty"},
		{"leading slash", []string{"/global"}, "starts with '/'"},
		{"trailing slash", []string{"global/"}, "ends with '/'"},
		{"empty segment", []string{"a//b"}, "empty segment"},
		{"unknown placeholder", []string{"dc/{{datacenter}}"}, "unknown placeholder"},
		{"unclosed placeholder", []string{"n/{{node"}, "unknown placeholder"},
		{"stray close", []string{"n/node}}"}, "stray"},
		{"twice", []string{"global", "global"}, "listed twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckTemplates(c.ts)
			if c.want == "" {
				if err != nil {
					t.Fatalf("CheckTemplates(%q) = %v, want nil", c.ts, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalidTemplate) {
				t.Fatalf("CheckTemplates(%q) = %v, want an ErrInvalidTemplate with %q", c.ts, err, c.want)
			}
		})
	}
}

func TestNewSkipsLayersWithEmptyPlaceholders(t *testing.T) {
	cases := []struct {
		names Names
		want  []string
	}{
		{Names{Node: "n1", Site: "berlin", Env: "prod"}, []string{"node/n1", "site/berlin", "env/prod", "global"}},
		{Names{Node: "n1", Env: "prod"}, []string{"node/n1", "env/prod", "global"}},
		{Names{Node: "n1", Site: "berlin"}, []string{"node/n1", "site/berlin", "global"}},
		{Names{Node: "n1"}, []string{"node/n1", "global"}},
	}
	for _, c := range cases {
		r, err := New(Default, c.names)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Layers(); !slices.Equal(got, c.want) {
			t.Errorf("layers for %+v = %q, want %q", c.names, got, c.want)
		}
	}
	r, err := New([]string{"{{site}}/{{env}}/cfg", "all"}, Names{Node: "n", Site: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Layers(); !slices.Equal(got, []string{"all"}) {
		t.Errorf("a layer with one empty placeholder of two was kept: %q", got)
	}
	if _, err := New(Default, Names{}); err == nil {
		t.Error("New without a node name succeeded")
	}
	if _, err := New([]string{"/x"}, Names{Node: "n"}); !errors.Is(err, ErrInvalidTemplate) {
		t.Errorf("New with an invalid template = %v", err)
	}
}
