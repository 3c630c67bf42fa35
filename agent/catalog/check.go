package catalog

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Types of the checks the agent runs itself, as Consul names them in
// /v1/agent/checks.
const (
	CheckTypeHTTP   = "http"
	CheckTypeTCP    = "tcp"
	CheckTypeScript = "script"
)

// Limits and defaults of the checks the agent runs.
const (
	// MinInterval is the shortest interval between two runs of a check,
	// Consul's (which raises a shorter one to it; a registration here is
	// refused instead).
	MinInterval = time.Second
	// MaxInterval bounds an interval and a timeout.
	MaxInterval = MaxTTL
	// DefaultTimeout is the timeout of an HTTP or TCP check's run when
	// the registration gives none, Consul's.
	DefaultTimeout = 10 * time.Second
	// DefaultScriptTimeout is a script check's, Consul's.
	DefaultScriptTimeout = 30 * time.Second
	// MinDeregisterAfter is the least DeregisterCriticalServiceAfter,
	// Consul's check_deregister_interval_min (which raises a shorter one
	// to it; a registration here is refused instead).
	MinDeregisterAfter = time.Minute

	maxURLLen     = 2048
	maxMethodLen  = 32
	maxHeaders    = 32 // header names
	maxHeaderVals = 16 // values of one header name
	maxHeaderLen  = 1024
	maxBodyLen    = 16 << 10
	maxArgs       = 64
	maxArgLen     = 4096
	maxDamping    = 1000 // SuccessBeforePassing and FailuresBefore*
)

// ActiveCheck is the definition of a check the agent runs itself, every
// Interval: an HTTP request, a TCP connect, or a script. The local bucket
// keeps it, so that a restart runs the check again; Table's record holds
// only its Type.
type ActiveCheck struct {
	// Type is CheckTypeHTTP, CheckTypeTCP or CheckTypeScript.
	Type string `cbor:"1,keyasint"`
	// HTTP is the URL of an HTTP check; Method (default GET), Header and
	// Body make its request; TLSSkipVerify and TLSServerName its TLS.
	HTTP          string              `cbor:"2,keyasint,omitempty"`
	Method        string              `cbor:"3,keyasint,omitempty"`
	Header        map[string][]string `cbor:"4,keyasint,omitempty"`
	Body          string              `cbor:"5,keyasint,omitempty"`
	TLSSkipVerify bool                `cbor:"6,keyasint,omitempty"`
	TLSServerName string              `cbor:"7,keyasint,omitempty"`
	// TCP is the host:port a TCP check connects to.
	TCP string `cbor:"8,keyasint,omitempty"`
	// Args is a script check's command and its arguments, run without a
	// shell.
	Args []string `cbor:"9,keyasint,omitempty"`
	// Interval is the time between the end of a run and the next.
	Interval time.Duration `cbor:"10,keyasint"`
	// Timeout bounds a run; past it the run is critical.
	Timeout time.Duration `cbor:"11,keyasint"`
	// SuccessBeforePassing, FailuresBeforeWarning and
	// FailuresBeforeCritical damp flapping as Consul's do: the
	// consecutive successes (passing or warning) a check needs before it
	// turns passing or warning, and failures before it turns warning or
	// critical. 0 means at once; FailuresBeforeWarning defaults to
	// FailuresBeforeCritical.
	SuccessBeforePassing   int `cbor:"12,keyasint,omitempty"`
	FailuresBeforeWarning  int `cbor:"13,keyasint,omitempty"`
	FailuresBeforeCritical int `cbor:"14,keyasint,omitempty"`
}

// validate checks a definition, with its defaults filled in.
func (a *ActiveCheck) validate() error {
	if a.Interval < MinInterval || a.Interval > MaxInterval {
		return fmt.Errorf("Interval %v: from %v to %v", a.Interval, MinInterval, MaxInterval)
	}
	if a.Timeout <= 0 || a.Timeout > MaxInterval {
		return fmt.Errorf("Timeout %v: more than 0, at most %v", a.Timeout, MaxInterval)
	}
	for _, n := range []int{a.SuccessBeforePassing, a.FailuresBeforeWarning, a.FailuresBeforeCritical} {
		if n < 0 || n > maxDamping {
			return fmt.Errorf("SuccessBeforePassing and FailuresBefore*: 0 to %d", maxDamping)
		}
	}
	if a.FailuresBeforeWarning > a.FailuresBeforeCritical {
		return fmt.Errorf("FailuresBeforeWarning %d: at most FailuresBeforeCritical (%d)", a.FailuresBeforeWarning, a.FailuresBeforeCritical)
	}
	switch a.Type {
	case CheckTypeHTTP:
		if a.TCP != "" || len(a.Args) > 0 {
			return fmt.Errorf("an HTTP check has no TCP or Args")
		}
		return a.validateHTTP()
	case CheckTypeTCP:
		if a.HTTP != "" || a.Method != "" || len(a.Header) > 0 || a.Body != "" || a.TLSSkipVerify || a.TLSServerName != "" || len(a.Args) > 0 {
			return fmt.Errorf("a TCP check has only TCP, Interval and Timeout")
		}
		return checkHostPort(a.TCP)
	case CheckTypeScript:
		if a.HTTP != "" || a.Method != "" || len(a.Header) > 0 || a.Body != "" || a.TLSSkipVerify || a.TLSServerName != "" || a.TCP != "" {
			return fmt.Errorf("a script check has only Args, Interval and Timeout")
		}
		if len(a.Args) == 0 || len(a.Args) > maxArgs {
			return fmt.Errorf("Args: 1 to %d arguments", maxArgs)
		}
		if a.Args[0] == "" {
			return fmt.Errorf("Args: no command")
		}
		for _, arg := range a.Args {
			if len(arg) > maxArgLen || strings.ContainsRune(arg, 0) {
				return fmt.Errorf("Args: an argument is at most %d bytes, without NUL", maxArgLen)
			}
		}
		return nil
	}
	return fmt.Errorf("Type %q: http, tcp or script", a.Type)
}

func (a *ActiveCheck) validateHTTP() error {
	if len(a.HTTP) > maxURLLen {
		return fmt.Errorf("HTTP: %d bytes, at most %d", len(a.HTTP), maxURLLen)
	}
	if err := checkText("HTTP", a.HTTP, maxURLLen); err != nil {
		return err
	}
	u, err := url.Parse(a.HTTP)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("HTTP %q: an http:// or https:// URL with a host", a.HTTP)
	}
	if a.Method != "" && (len(a.Method) > maxMethodLen || !isToken(a.Method)) {
		return fmt.Errorf("Method %q: an HTTP method", a.Method)
	}
	if len(a.Header) > maxHeaders {
		return fmt.Errorf("Header: %d names, at most %d", len(a.Header), maxHeaders)
	}
	for name, vals := range a.Header {
		if len(name) > maxHeaderLen || !isToken(name) {
			return fmt.Errorf("Header %q: not a header name", name)
		}
		if len(vals) > maxHeaderVals {
			return fmt.Errorf("Header %q: %d values, at most %d", name, len(vals), maxHeaderVals)
		}
		for _, v := range vals {
			if err := checkText("Header "+name, v, maxHeaderLen); err != nil {
				return err
			}
		}
	}
	if len(a.Body) > maxBodyLen {
		return fmt.Errorf("Body: %d bytes, at most %d", len(a.Body), maxBodyLen)
	}
	return checkText("TLSServerName", a.TLSServerName, maxTextLen)
}

// checkHostPort checks a TCP check's address: host:port, with a port from
// 1 to 65535.
func checkHostPort(addr string) error {
	if err := checkText("TCP", addr, maxTextLen); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(addr)
	p, perr := strconv.Atoi(port)
	if err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
		return fmt.Errorf("TCP %q: host:port, with a port from 1 to 65535", addr)
	}
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110), as a method and
// a header name are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}
