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

// CheckDef is a check as registered: what its record holds, its TTL or
// the definition of the check the agent runs, and the status it was
// registered with ("" when none: a new check starts critical, an existing
// one keeps its status).
type CheckDef struct {
	ID     string
	Name   string
	Notes  string
	TTL    time.Duration // a TTL check's; 0 for one the agent runs
	Status string
	// Active defines an HTTP, TCP or script check; nil for a TTL check.
	Active *ActiveCheck
	// DeregisterCriticalServiceAfter, when not 0, has the service
	// deregistered once this check has been critical that long.
	DeregisterCriticalServiceAfter time.Duration
}

// Type returns the check's type: CheckTypeTTL or Active.Type.
func (d *CheckDef) Type() string {
	if d.Active != nil {
		return d.Active.Type
	}
	return CheckTypeTTL
}

// ParseOptions say what a registration may hold, by where it comes from.
// The zero value is the HTTP API's.
type ParseOptions struct {
	// LocalScriptChecks allows script checks (Args, ScriptArgs). Set it
	// only for registrations read from the agent's own configuration
	// files with enable_local_script_checks on; never for the HTTP API,
	// which any local process can call: a script check runs any command
	// as the agent's user.
	LocalScriptChecks bool
	// Source is where the body comes from, kept in Registration.Source.
	// Default SourceAPI. The agent's configuration file converts each
	// service definition to the registration JSON, so that both sources
	// obey the same rules.
	Source Source
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

	// Consul's HTTP API takes these snake_case forms too.
	ScriptArgsSnake                     []string `json:"script_args"`
	DeregisterCriticalServiceAfterSnake string   `json:"deregister_critical_service_after"`
	TLSSkipVerifySnake                  bool     `json:"tls_skip_verify"`
	TLSServerNameSnake                  string   `json:"tls_server_name"`
	SuccessBeforePassingSnake           int      `json:"success_before_passing"`
	FailuresBeforeWarningSnake          int      `json:"failures_before_warning"`
	FailuresBeforeCriticalSnake         int      `json:"failures_before_critical"`
	DockerContainerIDSnake              string   `json:"docker_container_id"`
	GRPCUseTLSSnake                     bool     `json:"grpc_use_tls"`
	H2PingUseTLSSnake                   bool     `json:"h2ping_use_tls"`
	TCPUseTLSSnake                      bool     `json:"tcp_use_tls"`
	OSServiceSnake                      string   `json:"os_service"`
	AliasNodeSnake                      string   `json:"alias_node"`
	AliasServiceSnake                   string   `json:"alias_service"`
}

// ParseRegistration decodes a registration body in Consul's JSON
// (AgentServiceRegistration), refuses what this agent does not support,
// checks every field and fills in Consul's defaults: ID from Name,
// Weights {1, 1}, check IDs "service:<id>" ("service:<id>:<n>", n from 1,
// when there are several) and names "Service '<name>' check", a check's
// Method GET and Timeout (10s, 30s for a script). Every error wraps
// ErrInvalid. It reads a registration of the HTTP API, which refuses
// script checks: ParseRegistrationWith reads one from elsewhere.
func ParseRegistration(body []byte) (Registration, error) {
	return ParseRegistrationWith(body, ParseOptions{})
}

// ParseRegistrationWith is ParseRegistration for a registration from
// where opts says.
func ParseRegistrationWith(body []byte, opts ParseOptions) (Registration, error) {
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
		def, err := c.def(in, i, len(wcs), opts)
		if err != nil {
			return Registration{}, err
		}
		if seen[def.ID] {
			return Registration{}, invalid("check %q registered twice", def.ID)
		}
		seen[def.ID] = true
		reg.Checks = append(reg.Checks, def)
	}
	if reg.Service.ID == AgentServiceID || reg.Service.Name == AgentServiceID {
		return Registration{}, invalid("service %q: the name and ID of the agent's own service, which it registers itself", AgentServiceID)
	}
	reg.Source = opts.Source
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
func (c *wireCheck) def(in *Instance, i, n int, opts ParseOptions) (CheckDef, error) {
	c.mergeSnake()
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
		return d, invalid("check %q: %s checks are not supported: only TTL, HTTP, TCP and script (Args) checks are", d.ID, kind)
	}
	var err error
	if d.Active, err = c.active(d.ID, opts); err != nil {
		return d, err
	}
	if d.Active == nil {
		if d.TTL, err = c.ttl(d.ID); err != nil {
			return d, err
		}
	}
	if c.DeregisterCriticalServiceAfter != "" {
		after, err := time.ParseDuration(c.DeregisterCriticalServiceAfter)
		if err != nil || after < MinDeregisterAfter || after > MaxInterval {
			return d, invalid("check %q: DeregisterCriticalServiceAfter %q: a duration from %v to %v",
				d.ID, c.DeregisterCriticalServiceAfter, MinDeregisterAfter, MaxInterval)
		}
		d.DeregisterCriticalServiceAfter = after
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

// mergeSnake moves the snake_case forms of fields into their CamelCase
// ones, as Consul does: the CamelCase form wins when both are given.
func (c *wireCheck) mergeSnake() {
	if len(c.ScriptArgs) == 0 {
		c.ScriptArgs = c.Args
	}
	if len(c.ScriptArgs) == 0 {
		c.ScriptArgs = c.ScriptArgsSnake
	}
	if c.DeregisterCriticalServiceAfter == "" {
		c.DeregisterCriticalServiceAfter = c.DeregisterCriticalServiceAfterSnake
	}
	if c.TLSServerName == "" {
		c.TLSServerName = c.TLSServerNameSnake
	}
	c.TLSSkipVerify = c.TLSSkipVerify || c.TLSSkipVerifySnake
	if c.SuccessBeforePassing == 0 {
		c.SuccessBeforePassing = c.SuccessBeforePassingSnake
	}
	if c.FailuresBeforeWarning == 0 {
		c.FailuresBeforeWarning = c.FailuresBeforeWarningSnake
	}
	if c.FailuresBeforeCritical == 0 {
		c.FailuresBeforeCritical = c.FailuresBeforeCriticalSnake
	}
}

// ttl checks a TTL check and returns its TTL.
func (c *wireCheck) ttl(id string) (time.Duration, error) {
	if c.TTL == "" {
		return 0, invalid("check %q: no TTL, HTTP, TCP or Args: which kind of check is it?", id)
	}
	ttl, err := time.ParseDuration(c.TTL)
	if err != nil || ttl < MinTTL || ttl > MaxTTL {
		return 0, invalid("check %q: TTL %q: a duration from %v to %v", id, c.TTL, MinTTL, MaxTTL)
	}
	switch {
	case c.Interval != "" || c.Timeout != "":
		return 0, invalid("check %q: Interval and Timeout are for HTTP, TCP and script checks, not TTL checks", id)
	case c.SuccessBeforePassing != 0 || c.FailuresBeforeWarning != 0 || c.FailuresBeforeCritical != 0:
		return 0, invalid("check %q: SuccessBeforePassing and FailuresBefore* are for HTTP, TCP and script checks, not TTL checks", id)
	case set(c.Header) || c.Method != "" || c.Body != "" || c.TLSServerName != "" || c.TLSSkipVerify:
		return 0, invalid("check %q: Header, Method, Body and TLS settings are for HTTP checks", id)
	}
	return ttl, nil
}

// active returns the definition of an HTTP, TCP or script check, or nil
// for a TTL check.
func (c *wireCheck) active(id string, opts ParseOptions) (*ActiveCheck, error) {
	a := &ActiveCheck{HTTP: c.HTTP, Method: c.Method, Body: c.Body, TLSSkipVerify: c.TLSSkipVerify,
		TLSServerName: c.TLSServerName, TCP: c.TCP, Args: c.ScriptArgs,
		SuccessBeforePassing: c.SuccessBeforePassing, FailuresBeforeWarning: c.FailuresBeforeWarning,
		FailuresBeforeCritical: c.FailuresBeforeCritical}
	kinds := 0
	for _, k := range []struct {
		given bool
		typ   string
	}{{c.TTL != "", CheckTypeTTL}, {c.HTTP != "", CheckTypeHTTP}, {c.TCP != "", CheckTypeTCP}, {len(c.ScriptArgs) > 0, CheckTypeScript}} {
		if k.given {
			kinds++
			a.Type = k.typ
		}
	}
	switch {
	case kinds > 1:
		return nil, invalid("check %q: one of TTL, HTTP, TCP and Args, not several", id)
	case kinds == 0 || a.Type == CheckTypeTTL:
		return nil, nil
	case a.Type == CheckTypeScript && !opts.LocalScriptChecks:
		return nil, invalid("check %q: script checks (Args, ScriptArgs) are refused through the HTTP API: "+
			"a script check runs any command as the agent's user, a remote code execution "+
			"that Consul too refuses unless enable_script_checks is on; define it in a configuration "+
			"file, with enable_local_script_checks", id)
	}
	if set(c.Header) {
		if err := json.Unmarshal(c.Header, &a.Header); err != nil {
			return nil, invalid("check %q: Header: an object of lists of strings", id)
		}
		if len(a.Header) == 0 {
			a.Header = nil
		}
	}
	if c.Interval == "" {
		return nil, invalid("check %q: no Interval: %s checks run every Interval", id, a.Type)
	}
	var err error
	if a.Interval, err = time.ParseDuration(c.Interval); err != nil {
		return nil, invalid("check %q: Interval %q: a duration from %v to %v", id, c.Interval, MinInterval, MaxInterval)
	}
	a.Timeout = DefaultTimeout
	if a.Type == CheckTypeScript {
		a.Timeout = DefaultScriptTimeout
	}
	if c.Timeout != "" {
		if a.Timeout, err = time.ParseDuration(c.Timeout); err != nil {
			return nil, invalid("check %q: Timeout %q: a duration", id, c.Timeout)
		}
	}
	if a.Type == CheckTypeHTTP && a.Method == "" {
		a.Method = "GET"
	}
	if err := a.validate(); err != nil {
		return nil, invalid("check %q: %v", id, err)
	}
	return a, nil
}

// unsupportedType names the kind of a check this agent does not run, or
// "" for none.
func (c *wireCheck) unsupportedType() string {
	switch {
	case c.UDP != "":
		return "UDP"
	case c.GRPC != "" || c.GRPCUseTLS || c.GRPCUseTLSSnake:
		return "gRPC"
	case c.H2PING != "" || c.H2PingUseTLS || c.H2PingUseTLSSnake:
		return "H2PING"
	case c.DockerContainerID != "" || c.DockerContainerIDSnake != "" || c.Shell != "":
		return "Docker"
	case c.AliasService != "" || c.AliasNode != "" || c.AliasServiceSnake != "" || c.AliasNodeSnake != "":
		return "alias"
	case c.OSService != "" || c.OSServiceSnake != "":
		return "OS service"
	case c.TCPUseTLS || c.TCPUseTLSSnake:
		return "TCP with TLS (TCPUseTLS)"
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
