package cli

import (
	"bytes"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/edgeplane/edgeplane/agent/api"
)

type catalogServicesCmd struct{ noFlags }

func (*catalogServicesCmd) spec() spec {
	return spec{agent: true, help: `
Lists every service of the mesh's catalog, with the tags of its instances,
as this node's replica holds it.`}
}

func (*catalogServicesCmd) run(e *env) int {
	services, err := e.client.CatalogServices(e.ctx)
	if err != nil {
		return fail(e, "%v", err)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "Name\tTags")
	for _, name := range sortedKeys(services) {
		fmt.Fprintf(tw, "%s\t%s\n", name, dash(strings.Join(services[name], ",")))
	}
	tw.Flush()
	return 0
}

// serviceFilter is the flags that narrow a service's instances, as
// catalog service and services watch take them.
type serviceFilter struct {
	passing bool
	tags    multiFlag
	site    string
}

func (f *serviceFilter) define(fs *flag.FlagSet) {
	fs.BoolVar(&f.passing, "passing", false, "only instances whose every check is passing")
	fs.Var(&f.tags, "tag", "only instances with this `tag`; repeatable")
	fs.StringVar(&f.site, "site", "", "only instances on the nodes of this `site`")
}

func (f *serviceFilter) query() api.ServiceQuery {
	return api.ServiceQuery{Tags: f.tags, Passing: f.passing, Site: f.site}
}

type catalogServiceCmd struct{ serviceFilter }

func (*catalogServiceCmd) spec() spec {
	return spec{args: "NAME", minArgs: 1, maxArgs: 1, agent: true, help: `
Lists the instances of the service NAME across the mesh with the status of
their checks, the node's serfHealth included: -passing keeps those whose
every check passes, -tag (repeatable) those with all the tags given, -site
those on the nodes of that site.`}
}

func (c *catalogServiceCmd) run(e *env) int {
	entries, err := e.client.HealthService(e.ctx, e.arg(0), c.query())
	if err != nil {
		return fail(e, "%v", err)
	}
	var buf bytes.Buffer
	writeServiceEntries(&buf, entries)
	e.Stdout.Write(buf.Bytes())
	return 0
}

// writeServiceEntries writes the table of a service's instances: node,
// ID, address, port, tags and the status of each check.
func writeServiceEntries(b *bytes.Buffer, entries []api.ServiceEntry) {
	tw := tabwriter.NewWriter(b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "Node\tID\tAddress\tPort\tTags\tChecks")
	for _, s := range entries {
		var checks []string
		for _, ch := range s.Checks {
			checks = append(checks, ch.CheckID+"="+ch.Status)
		}
		slices.Sort(checks)
		addr := s.Service.Address
		if addr == "" {
			addr = s.Node.Address
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Node.Node, s.Service.ID, dash(addr), strconv.Itoa(s.Service.Port),
			dash(strings.Join(s.Service.Tags, ",")), dash(strings.Join(checks, " ")))
	}
	tw.Flush()
}
