package cli

import (
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
)

type maintCmd struct {
	enable, disable bool
	service, reason string
}

func (*maintCmd) spec() spec {
	return spec{agent: true, help: `
Puts the local agent's node, or one of its services, in maintenance mode or
takes it out, as consul maint does. In maintenance, a critical check
(_node_maintenance, or _service_maintenance:ID) takes the node's instances,
or the service's, out of healthy discovery answers; its notes say why. It
stays across restarts until disabled. Without -enable or -disable, lists
what is in maintenance.

  edgeplane maint -enable -reason "replacing the disk"
  edgeplane maint -enable -service web-1
  edgeplane maint -disable -service web-1
  edgeplane maint -disable`}
}

func (c *maintCmd) define(fs *flag.FlagSet) {
	fs.BoolVar(&c.enable, "enable", false, "enable maintenance mode")
	fs.BoolVar(&c.disable, "disable", false, "disable maintenance mode")
	fs.StringVar(&c.service, "service", "", "the service `ID` to put in maintenance instead of the node")
	fs.StringVar(&c.reason, "reason", "", "why, shown in the check's notes (with -enable)")
}

func (c *maintCmd) run(e *env) int {
	switch {
	case c.enable && c.disable:
		return fail(e, "-enable and -disable are exclusive")
	case c.reason != "" && !c.enable:
		return fail(e, "-reason goes with -enable")
	case !c.enable && !c.disable:
		if c.service != "" {
			return fail(e, "-service goes with -enable or -disable")
		}
		return c.list(e)
	}
	var err error
	switch {
	case c.enable && c.service == "":
		err = e.client.EnableNodeMaintenance(e.ctx, c.reason)
	case c.enable:
		err = e.client.EnableServiceMaintenance(e.ctx, c.service, c.reason)
	case c.service == "":
		err = e.client.DisableNodeMaintenance(e.ctx)
	default:
		err = e.client.DisableServiceMaintenance(e.ctx, c.service)
	}
	if err != nil {
		return fail(e, "%v", err)
	}
	switch {
	case c.enable && c.service == "":
		fmt.Fprintln(e.Stdout, "Node entered maintenance mode")
	case c.enable:
		fmt.Fprintf(e.Stdout, "Service entered maintenance mode: %s\n", c.service)
	case c.service == "":
		fmt.Fprintln(e.Stdout, "Node maintenance is now disabled")
	default:
		fmt.Fprintf(e.Stdout, "Service maintenance is now disabled: %s\n", c.service)
	}
	return 0
}

// list prints the node's and the services' maintenance checks.
func (c *maintCmd) list(e *env) int {
	checks, err := e.client.Checks(e.ctx)
	if err != nil {
		return fail(e, "%v", err)
	}
	var lines []string
	for _, id := range slices.Sorted(maps.Keys(checks)) {
		ch := checks[id]
		switch {
		case id == "_node_maintenance":
			lines = append([]string{"Node:", "  Name:   " + ch.Node, "  Reason: " + ch.Notes}, lines...)
		case strings.HasPrefix(id, "_service_maintenance:"):
			lines = append(lines, "Service:", "  ID:     "+ch.ServiceID, "  Reason: "+ch.Notes)
		}
	}
	for _, l := range lines {
		fmt.Fprintln(e.Stdout, l)
	}
	return 0
}
