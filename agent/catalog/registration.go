package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"
)

// MaxRegistrationSize is the largest registration body accepted; the API
// answers a larger one 413. A registration within every other limit is
// far smaller.
const MaxRegistrationSize = 64 << 10

// Registration is a service registration, decoded from Consul's JSON and
// checked: the instance Table will hold and the checks registered with it.
type Registration struct {
	Service Instance
	Checks  []CheckDef
	// Source is where the registration came from: the API (the zero
	// value) or the agent's configuration file (see ParseOptions).
	Source Source
}

// CheckDef is a check as registered: what its record holds, its TTL, and
// the status it was registered with ("" when none: a new check starts
// critical, an existing one keeps its status).
type CheckDef struct {
	ID     string
	Name   string
	Notes  string
	TTL    time.Duration
	Status string
}

// wireRegistration is Consul's AgentServiceRegistration as its API client
// sends it. Every field Consul knows is listed, so that a field this
// agent does not support is refused by name rather than ignored; a field
// Consul does not know fails the decoding.
type wireRegistration struct {
	Kind              string
	ID                string
	Name              string
	Tags              []string
	Port              int
	Ports             json.RawMessage
	Address           string
	SocketPath        string
	TaggedAddresses   map[string]Address
	EnableTagOverride bool
	Meta              map[string]string
	Weights           *Weights
	Check             *wireCheck
	Checks            []*wireCheck
	Proxy             json.RawMessage
	Connect           json.RawMessage
	AI                json.RawMessage
	Namespace         string
	Partition         string
	Locality          json.RawMessage

	// Consul's HTTP API takes these snake_case forms too.
	EnableTagOverrideSnake bool               `json:"enable_tag_override"`
	TaggedAddressesSnake   map[string]Address `json:"tagged_addresses"`
}

// wireCheck is Consul's AgentServiceCheck.
type wireCheck struct {
	CheckID                        string
	Name                           string
	ScriptArgs                     []string
	Args                           []string
	DockerContainerID              string
	Shell                          string
	Interval                       string
	Timeout                        string
	TTL                            string
	HTTP                           string
	Header                         json.RawMessage
	Method                         string
	Body                           string
	TCP                            string
	TCPUseTLS                      bool
	UDP                            string
	Status                         string
	Notes                          string
	TLSServerName                  string
	TLSSkipVerify                  bool
	GRPC                           string
	GRPCUseTLS                     bool
	H2PING                         string
	H2PingUseTLS                   bool
	AliasNode                      string
	AliasService                   string
	OSService                      string
	SuccessBeforePassing           int
	FailuresBeforeWarning          int
	FailuresBeforeCritical         int
	DeregisterCriticalServiceAfter string
}

// ParseRegistration decodes a registration body in Consul's JSON
// (AgentServiceRegistration), refuses what this agent does not support,
// checks every field and fills in Consul's defaults: ID from Name,
// Weights {1, 1}, check IDs "service:<id>" ("service:<id>:<n>", n from 1,
// when there are several) and names "Service '<name>' check". Every
// error wraps ErrInvalid.
func ParseRegistration(body []byte) (Registration, error) {
	if len(body) > MaxRegistrationSize {
		return Registration{}, invalid("body of %d bytes, at most %d", len(body), MaxRegistrationSize)
	}
	var w wireRegistration
	if err := decodeStrict(body, &w); err != nil {
		return Registration{}, err
	}
	if err := w.refuseUnsupported(); err != nil {
		return Registration{}, err
	}
	reg := Registration{Service: Instance{
		ID: w.ID, Name: w.Name, Tags: w.Tags, Address: w.Address, Port: w.Port,
		TaggedAddresses: w.TaggedAddresses, Meta: w.Meta, Weights: DefaultWeights,
		EnableTagOverride: w.EnableTagOverride,
	}}
	in := &reg.Service
	in.EnableTagOverride = in.EnableTagOverride || w.EnableTagOverrideSnake
	if in.TaggedAddresses == nil {
		in.TaggedAddresses = w.TaggedAddressesSnake
	}
	if in.Name == "" {
		return Registration{}, invalid("missing service Name")
	}
	if in.ID == "" {
		in.ID = in.Name
	}
	if w.Weights != nil {
		in.Weights = *w.Weights
	}
	if len(in.Tags) == 0 {
		in.Tags = nil
	}
	if len(in.Meta) == 0 {
		in.Meta = nil
	}
	if len(in.TaggedAddresses) == 0 {
		in.TaggedAddresses = nil
	}
	if err := in.validate(); err != nil {
		return Registration{}, invalid("%v", err)
	}

	var wcs []*wireCheck
	for _, c := range append([]*wireCheck{w.Check}, w.Checks...) {
		if c != nil && !reflect.ValueOf(*c).IsZero() {
			wcs = append(wcs, c)
		}
	}
	if len(wcs) > maxChecks {
		return Registration{}, invalid("%d checks, at most %d", len(wcs), maxChecks)
	}
	seen := make(map[string]bool, len(wcs))
	for i, c := range wcs {
		def, err := c.def(in, i, len(wcs))
		if err != nil {
			return Registration{}, err
		}
		if seen[def.ID] {
			return Registration{}, invalid("check %q registered twice", def.ID)
		}
		seen[def.ID] = true
		reg.Checks = append(reg.Checks, def)
	}
	return reg, nil
}

// set reports whether a field held as raw JSON was given a value.
func set(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// refuseUnsupported refuses the parts of Consul's registration this agent
// does not support.
func (w *wireRegistration) refuseUnsupported() error {
	switch {
	case w.Kind != "":
		return invalid("Kind %q: only typical services are supported; Connect proxies and gateways are not", w.Kind)
	case set(w.Proxy):
		return invalid("Proxy: Connect proxies are not supported")
	case set(w.Connect):
		return invalid("Connect: Consul Connect is not supported")
	case w.Namespace != "":
		return invalid("Namespace: namespaces are not supported")
	case w.Partition != "":
		return invalid("Partition: admin partitions are not supported")
	case w.SocketPath != "":
		return invalid("SocketPath: Unix socket services are not supported yet")
	case set(w.Ports):
		return invalid("Ports: named ports are not supported yet; use Port and TaggedAddresses")
	case set(w.AI):
		return invalid("AI: not supported")
	case set(w.Locality):
		return invalid("Locality: not supported yet")
	}
	return nil
}

// def checks a registered check and fills in its defaults; it is the
// i-th of n checks of the instance in.
func (c *wireCheck) def(in *Instance, i, n int) (CheckDef, error) {
	d := CheckDef{ID: c.CheckID, Name: c.Name, Notes: c.Notes, Status: c.Status}
	if d.ID == "" {
		d.ID = "service:" + in.ID
		if n > 1 {
			d.ID += fmt.Sprintf(":%d", i+1)
		}
	}
	if err := checkID(d.ID); err != nil {
		return d, invalid("CheckID: %v", err)
	}
	if kind := c.unsupportedType(); kind != "" {
		return d, invalid("check %q: %s checks are not supported yet: only TTL checks are", d.ID, kind)
	}
	if c.TTL == "" {
		return d, invalid("check %q: no TTL: only TTL checks are supported yet", d.ID)
	}
	ttl, err := time.ParseDuration(c.TTL)
	if err != nil || ttl < MinTTL || ttl > MaxTTL {
		return d, invalid("check %q: TTL %q: a duration from %v to %v", d.ID, c.TTL, MinTTL, MaxTTL)
	}
	d.TTL = ttl
	switch {
	case c.Interval != "" || c.Timeout != "":
		return d, invalid("check %q: Interval and Timeout are for interval checks, not TTL checks", d.ID)
	case c.SuccessBeforePassing != 0 || c.FailuresBeforeWarning != 0 || c.FailuresBeforeCritical != 0:
		return d, invalid("check %q: SuccessBeforePassing and FailuresBefore* are not supported yet", d.ID)
	case c.DeregisterCriticalServiceAfter != "":
		return d, invalid("check %q: DeregisterCriticalServiceAfter is not supported yet", d.ID)
	}
	if d.Name == "" {
		d.Name = fmt.Sprintf("Service '%s' check", in.Name)
	}
	if err := checkText("check Name", d.Name, maxTextLen); err != nil {
		return d, invalid("check %q: %v", d.ID, err)
	}
	if err := checkText("check Notes", d.Notes, maxNotesLen); err != nil {
		return d, invalid("check %q: %v", d.ID, err)
	}
	if d.Status != "" && !ValidStatus(d.Status) {
		return d, invalid("check %q: Status %q: passing, warning or critical", d.ID, d.Status)
	}
	return d, nil
}

// unsupportedType names the kind of a check other than TTL, or "" for
// none.
func (c *wireCheck) unsupportedType() string {
	switch {
	case len(c.ScriptArgs) > 0 || len(c.Args) > 0:
		return "script (Args)"
	case c.HTTP != "" || set(c.Header) || c.Method != "" || c.Body != "" || c.TLSServerName != "" || c.TLSSkipVerify:
		return "HTTP"
	case c.TCP != "" || c.TCPUseTLS:
		return "TCP"
	case c.UDP != "":
		return "UDP"
	case c.GRPC != "" || c.GRPCUseTLS:
		return "gRPC"
	case c.H2PING != "" || c.H2PingUseTLS:
		return "H2PING"
	case c.DockerContainerID != "" || c.Shell != "":
		return "Docker"
	case c.AliasService != "" || c.AliasNode != "":
		return "alias"
	case c.OSService != "":
		return "OS service"
	}
	return ""
}

// ParseCheckUpdate decodes the body of PUT /v1/agent/check/update, Consul's
// {"Status": ..., "Output": ...}, and checks its status. The output is
// cut to MaxOutput bytes. Errors wrap ErrInvalid.
func ParseCheckUpdate(body []byte) (status, output string, err error) {
	var u struct{ Status, Output string }
	if err := decodeStrict(body, &u); err != nil {
		return "", "", err
	}
	if !ValidStatus(u.Status) {
		return "", "", invalid("Status %q: passing, warning or critical", u.Status)
	}
	return u.Status, CapOutput(u.Output), nil
}

// decodeStrict decodes one JSON value into v, refusing fields v does not
// have and anything after the value.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("request decode failed: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("request decode failed: data after the JSON value")
	}
	return nil
}
