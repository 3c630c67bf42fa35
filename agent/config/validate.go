package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgeplane/edgeplane/agent/jointoken"
)

// Validate checks every option against its rule and returns all problems
// joined with errors.Join, each an *Error naming the key, or for a block
// list the path of the offending field ("services[0].port"). A Loader
// validates for you and also fills in each Error's Source; Validate on a
// hand-built Config leaves Source empty.
func (c *Config) Validate() error {
	return validate(c, nil)
}

func validate(c *Config, from origins) error {
	var errs []error
	for i := range options {
		o := &options[i]
		for _, p := range o.check(c) {
			errs = append(errs, &Error{Source: from.source(p.key), Key: p.key, Err: p.err})
		}
	}
	// Rules that involve more than one field.
	if c.DataDir == "" && !c.Dev {
		errs = append(errs, &Error{Source: from.source("data_dir"), Key: "data_dir",
			Err: invalidf("must not be empty (only -dev runs without a data directory)")})
	}
	if c.Encrypt != "" && c.EncryptFile != "" {
		errs = append(errs, &Error{Source: from.source("encrypt_file"), Key: "encrypt_file",
			Err: invalidf("set either encrypt or encrypt_file, not both")})
	}
	if c.JoinToken != "" && c.JoinTokenFile != "" {
		errs = append(errs, &Error{Source: from.source("join_token_file"), Key: "join_token_file",
			Err: invalidf("set either join_token or join_token_file, not both")})
	}
	if t := c.TLS; t.Enabled() {
		for key, v := range map[string]string{"tls.ca_file": t.CAFile, "tls.cert_file": t.CertFile, "tls.key_file": t.KeyFile} {
			if v == "" {
				errs = append(errs, &Error{Source: from.source(key), Key: key,
					Err: invalidf("must be set: the fleet CA mode needs ca_file, cert_file and key_file together")})
			}
		}
	}
	errs = append(errs, validateMetricsAddr(c, from)...)
	if !c.EnableLocalScriptChecks {
		for i := range c.Services {
			s := &c.Services[i]
			for j, ck := range append([]CheckDef{s.Check}, s.Checks...) {
				if len(ck.Args) == 0 {
					continue
				}
				key := fmt.Sprintf("services[%d].check.args", i)
				if j > 0 {
					key = fmt.Sprintf("services[%d].checks[%d].args", i, j-1)
				}
				errs = append(errs, &Error{Source: from.source(key), Key: key,
					Err: invalidf("a script check runs only with enable_local_script_checks: true")})
			}
		}
	}
	errs = append(errs, validateACL(c, from)...)
	return errors.Join(errs...)
}

// maxNameLen bounds node and site names.
const maxNameLen = 128

func checkNodeName(s string) error {
	if s == "" {
		return invalidf("must not be empty")
	}
	return checkName(s)
}

func checkSite(s string) error {
	if s == "" {
		return nil
	}
	return checkName(s)
}

// checkName allows ASCII letters, digits, '-', '_' and '.', at most
// maxNameLen bytes: names travel in gossip, DNS-style lookups and paths.
func checkName(s string) error {
	if len(s) > maxNameLen {
		return invalidf("%d characters, at most %d allowed", len(s), maxNameLen)
	}
	for _, r := range s {
		if !isNameRune(r) {
			return invalidf("%q contains %q; use letters, digits, '-', '_' and '.'", clip(s), r)
		}
	}
	return nil
}

func isNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '-' || r == '_' || r == '.'
}

func checkDatacenter(s string) error {
	if s == "" {
		return invalidf("must not be empty")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return invalidf("%q contains %q; use lowercase letters, digits, '-' and '_'", clip(s), r)
		}
	}
	return nil
}

func checkBindAddr(s string) error {
	if s == "" {
		return invalidf("must not be empty; use 0.0.0.0 to bind every interface")
	}
	if _, err := netip.ParseAddr(s); err != nil {
		return invalidf("%q is not an IP address", clip(s))
	}
	return nil
}

func checkAdvertiseAddr(s string) error {
	if s == "" {
		return nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return invalidf("%q is not an IP address", clip(s))
	}
	if a.IsUnspecified() {
		return invalidf("%q cannot be advertised; peers need a reachable address", clip(s))
	}
	return nil
}

// checkListenPort allows 0, which picks a free port.
func checkListenPort(p int) error {
	if p < 0 || p > 65535 {
		return invalidf("port %d out of range 0-65535", p)
	}
	return nil
}

func checkNonNegative(n int) error {
	if n < 0 {
		return invalidf("%d is negative", n)
	}
	return nil
}

func checkPositiveInt(n int) error {
	if n < 1 {
		return invalidf("%d must be at least 1", n)
	}
	return nil
}

func checkPositive(d Duration) error {
	if d.Duration <= 0 {
		return invalidf("duration %s must be positive", d)
	}
	return nil
}

func checkProfile(s string) error {
	switch s {
	case "lan", "wan", "edge":
		return nil
	}
	return invalidf("profile %q is not lan, wan or edge", clip(s))
}

// MaxTagBytes bounds the tags: the node's gossip metadata, tags plus the
// entries edgeplane reserves, must fit memberlist's 512 bytes.
const MaxTagBytes = 256

// reservedTags are metadata keys edgeplane sets itself.
var reservedTags = []string{"id", "site", "rpc", "version", "fp", "boot"}

func checkTags(tags map[string]string) error {
	size := 0
	for k, v := range tags {
		if k == "" {
			return invalidf("empty tag name")
		}
		if slices.Contains(reservedTags, k) {
			return invalidf("tag %q is reserved (set by edgeplane)", clip(k))
		}
		size += len(k) + len(v) + 2
	}
	if size > MaxTagBytes {
		return invalidf("tags take %d bytes, more than the %d that fit in gossip metadata", size, MaxTagBytes)
	}
	return nil
}

func checkPort(p int) error {
	if p < 1 || p > 65535 {
		return invalidf("port %d out of range 1-65535", p)
	}
	return nil
}

// parsePort parses the port of a host:port, which must be at least min.
func parsePort(s string, min int) error {
	p, err := strconv.Atoi(s)
	if err != nil {
		return invalidf("port %q is not a number", clip(s))
	}
	if p < min || p > 65535 {
		return invalidf("port %d out of range %d-65535", p, min)
	}
	return nil
}

// checkMetricsAddr allows an empty metrics_addr: no metrics listener.
func checkMetricsAddr(s string) error {
	if s == "" {
		return nil
	}
	return checkHTTPAddr(s)
}

// validateMetricsAddr checks the metrics listener's options together: TLS
// needs the fleet certificate, and a listener off loopback a token, since
// TLS authenticates the node and not its scraper.
func validateMetricsAddr(c *Config, from origins) []error {
	var errs []error
	blame := func(key, format string, args ...any) {
		errs = append(errs, &Error{Source: from.source(key), Key: key, Err: invalidf(format, args...)})
	}
	if c.MetricsAddr == "" {
		if c.MetricsTLS {
			blame("metrics_tls", "needs metrics_addr: there is no metrics listener to serve over TLS")
		}
		if c.MetricsBearerTokenFile != "" {
			blame("metrics_bearer_token_file", "needs metrics_addr: there is no metrics listener to ask the token")
		}
		return errs
	}
	if c.MetricsTLS && (c.TLS.CertFile == "" || c.TLS.KeyFile == "") {
		blame("metrics_tls", "needs the fleet certificate: set tls.ca_file, tls.cert_file and tls.key_file")
	}
	if c.MetricsBearerTokenFile == "" && !LoopbackAddr(c.MetricsAddr) {
		blame("metrics_addr", "%q is not a loopback address: set metrics_bearer_token_file, so that only your scrapers read the metrics", clip(c.MetricsAddr))
	}
	return errs
}

// LoopbackAddr reports whether the host of a host:port is localhost or a
// loopback IP address.
func LoopbackAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ReadMetricsToken reads MetricsBearerTokenFile's token: "" when none is
// set. It refuses a file open to every user, and a token too short, too
// long or holding other than printable ASCII, as for ACL secrets.
func (c Config) ReadMetricsToken() (string, error) {
	if c.MetricsBearerTokenFile == "" {
		return "", nil
	}
	s, err := readSecretFile(c.MetricsBearerTokenFile)
	if err != nil {
		return "", fmt.Errorf("metrics_bearer_token_file: %w", err)
	}
	return s, nil
}

func checkHTTPAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return invalidf("%q is not host:port", clip(s))
	}
	if host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return invalidf("host %q is not an IP address or localhost", clip(host))
		}
	}
	return parsePort(port, 0)
}

func checkRetryJoin(addrs []string) error {
	for i, a := range addrs {
		if err := checkJoinAddr(a); err != nil {
			return invalidf("entry %d (%q): %v", i+1, clip(a), err)
		}
	}
	return nil
}

// checkJoinAddr accepts host or host:port, where host is an IP address
// (IPv6 in brackets when a port follows) or a host name.
func checkJoinAddr(s string) error {
	if s == "" {
		return invalidf("empty address")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: the whole entry is the host, perhaps a bare IPv6
		// address or one in brackets.
		host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	} else if port == "" {
		return invalidf("missing port after ':'")
	} else if err := parsePort(port, 1); err != nil {
		return err
	}
	if !isHost(host) {
		return invalidf("%q is not an IP address or host name", clip(host))
	}
	return nil
}

// isHost reports whether s is an IP address or a host name, by the rule
// join tokens' seeds follow (jointoken.IsHostName): the seeds of a token
// are joined with retry_join.
func isHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	return jointoken.IsHostName(s)
}

// checkEncrypt never repeats the key in its errors: it is a secret.
func checkEncrypt(s string) error {
	if s == "" {
		return nil
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return invalidf("not valid base64 (standard encoding)")
	}
	switch len(key) {
	case 16, 24, 32:
		return nil
	}
	return invalidf("key is %d bytes, want 16, 24 or 32", len(key))
}

// maxKeyFile bounds what checkEncryptFile reads: a key file holds one
// base64 line.
const maxKeyFile = 1 << 10

// checkEncryptFile reads the key file and checks its key as checkEncrypt
// does, never repeating the key in its errors.
func checkEncryptFile(path string) error {
	if path == "" {
		return nil
	}
	_, err := readKeyFile(path)
	return err
}

func readKeyFile(path string) (string, error) {
	key, err := readSmallFile(path, "a key file", maxKeyFile, nil)
	if err != nil {
		return "", err
	}
	if err := checkEncrypt(key); err != nil {
		return "", invalidf("%s: %v", path, err)
	}
	return key, nil
}

// readSmallFile reads a file of at most limit bytes that holds one value,
// and returns the value with surrounding white space trimmed. what names
// the kind of file in errors; accept, when not nil, vets the open file
// before it is read.
func readSmallFile(path, what string, limit int, accept func(os.FileInfo) error) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", invalidf("%v", err)
	}
	defer f.Close()
	if accept != nil {
		info, err := f.Stat()
		if err != nil {
			return "", invalidf("%v", err)
		}
		if err := accept(info); err != nil {
			return "", err
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return "", invalidf("%v", err)
	}
	if len(b) > limit {
		return "", invalidf("%s is larger than %d bytes: not %s", path, limit, what)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", invalidf("%s is empty", path)
	}
	return v, nil
}

// GossipKey returns the base64 gossip key from encrypt or encrypt_file,
// or "" when neither is set (gossip in clear).
func (c *Config) GossipKey() (string, error) {
	if c.EncryptFile == "" {
		return c.Encrypt, nil
	}
	key, err := readKeyFile(c.EncryptFile)
	if err != nil {
		return "", &Error{Key: "encrypt_file", Err: err}
	}
	return key, nil
}

// checkJoinToken never repeats the token in its errors: it holds the
// gossip key.
func checkJoinToken(s string) error {
	if s == "" {
		return nil
	}
	if _, err := jointoken.Parse(s); err != nil {
		return invalidf("%v", err)
	}
	return nil
}

// checkJoinTokenFile reads the token file and checks its token as
// checkJoinToken does.
func checkJoinTokenFile(path string) error {
	if path == "" {
		return nil
	}
	_, err := readTokenFile(path)
	return err
}

func readTokenFile(path string) (jointoken.Token, error) {
	s, err := readSmallFile(path, "a join token file", jointoken.MaxLen+64, nil)
	if err != nil {
		return jointoken.Token{}, err
	}
	t, err := jointoken.Parse(s)
	if err != nil {
		return jointoken.Token{}, invalidf("%s: %v", path, err)
	}
	return t, nil
}

// ReadJoinToken returns the token of join_token or join_token_file, or
// nil when neither is set.
func (c *Config) ReadJoinToken() (*jointoken.Token, error) {
	switch {
	case c.JoinTokenFile != "":
		t, err := readTokenFile(c.JoinTokenFile)
		if err != nil {
			return nil, &Error{Key: "join_token_file", Err: err}
		}
		return &t, nil
	case c.JoinToken != "":
		t, err := jointoken.Parse(c.JoinToken)
		if err != nil {
			return nil, &Error{Key: "join_token", Err: invalidf("%v", err)}
		}
		return &t, nil
	}
	return nil, nil
}

func checkLogLevel(s string) error {
	_, err := ParseLogLevel(s)
	return err
}

// ParseLogLevel returns the slog level a log_level value names: debug,
// info, warn or error, in any case.
func ParseLogLevel(s string) (slog.Level, error) {
	l, ok := logLevels[strings.ToLower(s)]
	if !ok {
		return 0, invalidf("%q is not one of debug, info, warn, error", clip(s))
	}
	return l, nil
}

// minTombstoneTTL keeps deletes long enough to reach every replica.
const minTombstoneTTL = time.Minute

func checkTombstoneTTL(d Duration) error {
	if d.Duration < minTombstoneTTL {
		return invalidf("%s is shorter than the minimum %s", d, minTombstoneTTL)
	}
	return nil
}
