package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

type servicesRegisterCmd struct{ noFlags }

func (*servicesRegisterCmd) spec() spec {
	return spec{args: "FILE|-", minArgs: 1, maxArgs: 1, agent: true, help: `
Registers a service on the local agent from a JSON file ("-": standard
input) in the shape of Consul's registration API, or a Consul service
definition: {"service": {...}}. TTL, HTTP and TCP checks are supported
(script checks only in the agent's configuration files); the agent refuses
anything else with its reason. Registering an ID again updates it in
place.`}
}

func (*servicesRegisterCmd) run(e *env) int {
	var body []byte
	var err error
	if e.arg(0) == "-" {
		body, err = readAllLimit(e.Stdin)
	} else {
		body, err = os.ReadFile(e.arg(0))
	}
	if err != nil {
		return fail(e, "%v", err)
	}
	body = unwrapServiceDefinition(body)
	var names struct{ ID, Name string }
	_ = json.Unmarshal(body, &names) // the agent says what is wrong
	if err := e.client.ServiceRegisterJSON(e.ctx, bytes.NewReader(body)); err != nil {
		return fail(e, "registering the service: %v", err)
	}
	fmt.Fprintf(e.Stdout, "Registered service: %s\n", names.Name)
	return 0
}

// unwrapServiceDefinition returns the object inside a Consul service
// definition ({"service": {...}}), or body as it is.
func unwrapServiceDefinition(body []byte) []byte {
	var def map[string]json.RawMessage
	if json.Unmarshal(body, &def) != nil || len(def) != 1 {
		return body
	}
	for k, v := range def {
		if strings.EqualFold(k, "service") && bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) {
			return v
		}
	}
	return body
}

type servicesDeregisterCmd struct{ noFlags }

func (*servicesDeregisterCmd) spec() spec {
	return spec{args: "ID", minArgs: 1, maxArgs: 1, agent: true, help: `
Deregisters the service ID from the local agent, with its checks.`}
}

func (*servicesDeregisterCmd) run(e *env) int {
	if err := e.client.ServiceDeregister(e.ctx, e.arg(0)); err != nil {
		return fail(e, "deregistering %q: %v", e.arg(0), err)
	}
	fmt.Fprintf(e.Stdout, "Deregistered service: %s\n", e.arg(0))
	return 0
}

type servicesListCmd struct{ noFlags }

func (*servicesListCmd) spec() spec {
	return spec{agent: true, help: "Lists the services registered on the local agent, with the status of their checks."}
}

func (*servicesListCmd) run(e *env) int {
	services, err := e.client.Services(e.ctx)
	if err != nil {
		return fail(e, "%v", err)
	}
	checks, err := e.client.Checks(e.ctx)
	if err != nil {
		return fail(e, "%v", err)
	}
	status := map[string][]string{}
	for _, c := range checks {
		status[c.ServiceID] = append(status[c.ServiceID], c.CheckID+"="+c.Status)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tName\tAddress\tPort\tTags\tChecks")
	for _, id := range sortedKeys(services) {
		s := services[id]
		cs := status[id]
		slices.Sort(cs)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", id, s.Service, dash(s.Address), strconv.Itoa(s.Port),
			dash(strings.Join(s.Tags, ",")), dash(strings.Join(cs, " ")))
	}
	tw.Flush()
	return 0
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// checkCmd reports a TTL check's status: check pass, warn or fail.
type checkCmd struct {
	verb string // pass, warn or fail
	note string
}

func (c *checkCmd) spec() spec {
	return spec{args: "ID", minArgs: 1, maxArgs: 1, agent: true, help: fmt.Sprintf(`
Reports the TTL check ID %s, with -note as its output, and restarts its TTL.`,
		map[string]string{"pass": "passing", "warn": "warning", "fail": "critical"}[c.verb])}
}

func (c *checkCmd) define(fs *flag.FlagSet) {
	fs.StringVar(&c.note, "note", "", "the check's output")
}

func (c *checkCmd) run(e *env) int {
	report := map[string]func() error{
		"pass": func() error { return e.client.CheckPass(e.ctx, e.arg(0), c.note) },
		"warn": func() error { return e.client.CheckWarn(e.ctx, e.arg(0), c.note) },
		"fail": func() error { return e.client.CheckFail(e.ctx, e.arg(0), c.note) },
	}[c.verb]
	if err := report(); err != nil {
		return fail(e, "check %s %q: %v", c.verb, e.arg(0), err)
	}
	return 0
}
