package jointoken

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Prefix starts every token of the format this package writes; the digit
// is the format's version.
const Prefix = "ep1."

// Limits of a token, checked before anything is decoded.
const (
	// MaxLen bounds a token's length in bytes, prefix included.
	MaxLen = 4 << 10
	// MaxSeeds bounds the seed addresses a token carries.
	MaxSeeds = 16
	// maxSeedLen bounds one seed: a 253-byte host name, a colon and a port.
	maxSeedLen = 253 + 6
)

// ErrInvalid is wrapped by every error of Parse and Encode: the token, or
// the key or seeds given to Encode, break the format.
var ErrInvalid = errors.New("invalid join token")

// Token is what a join token carries.
type Token struct {
	// Key is the mesh's gossip key, standard base64 of 16, 24 or 32 bytes,
	// as the encrypt option takes it.
	Key string
	// Seeds are gossip addresses (host:port) of members to join through.
	Seeds []string
}

// wire is a token's JSON object.
type wire struct {
	K string   `json:"k"`
	S []string `json:"s"`
}

// Encode checks t and returns its token.
func Encode(t Token) (string, error) {
	if err := t.check(); err != nil {
		return "", err
	}
	b, err := json.Marshal(wire{K: t.Key, S: t.Seeds})
	if err != nil {
		return "", invalidf("encoding: %v", err)
	}
	s := Prefix + base64.RawURLEncoding.EncodeToString(b)
	if len(s) > MaxLen {
		return "", invalidf("token would be %d bytes, more than %d: give fewer or shorter seeds", len(s), MaxLen)
	}
	return s, nil
}

// Parse decodes and checks a token. White space around it (a file's final
// newline) is ignored.
func Parse(s string) (Token, error) {
	if len(s) > MaxLen+64 { // before trimming: bound the work on any input
		return Token{}, invalidf("%d bytes, more than the %d a token may have", len(s), MaxLen)
	}
	s = strings.TrimSpace(s)
	if len(s) > MaxLen {
		return Token{}, invalidf("%d bytes, more than the %d a token may have", len(s), MaxLen)
	}
	body, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		if v, _, found := strings.Cut(s, "."); found && len(v) > 2 && len(v) < 8 && strings.HasPrefix(v, "ep") && isDigits(v[2:]) {
			return Token{}, invalidf("format %s is not one this edgeplane reads (%s): make the token with this version's `edgeplane join-token`, or upgrade", v, strings.TrimSuffix(Prefix, "."))
		}
		return Token{}, invalidf("not an edgeplane join token: it must start with %q (make one with `edgeplane join-token` on a member)", Prefix)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil {
		return Token{}, invalidf("not unpadded base64url after %q; was the token cut or changed in copying?", Prefix)
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Token{}, invalidf("malformed content: %v", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Token{}, invalidf("malformed content: data after the object")
	}
	t := Token{Key: w.K, Seeds: w.S}
	if err := t.check(); err != nil {
		return Token{}, err
	}
	return t, nil
}

// jsonProblem describes a JSON decoding error without quoting the
// input, which may hold the key.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not JSON (at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q is not a %s", typ.Field, typ.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "not a JSON object"
}

// check checks the key and the seeds.
func (t Token) check() error {
	key, err := base64.StdEncoding.Strict().DecodeString(t.Key)
	switch {
	case t.Key == "":
		return invalidf("no gossip key")
	case err != nil:
		return invalidf("the gossip key is not standard base64")
	case len(key) != 16 && len(key) != 24 && len(key) != 32:
		return invalidf("the gossip key is %d bytes, want 16, 24 or 32", len(key))
	}
	if len(t.Seeds) == 0 {
		return invalidf("no seed addresses")
	}
	if len(t.Seeds) > MaxSeeds {
		return invalidf("%d seed addresses, at most %d", len(t.Seeds), MaxSeeds)
	}
	for i, s := range t.Seeds {
		if err := CheckSeed(s); err != nil {
			return fmt.Errorf("%w: seed %d: %w", ErrInvalid, i+1, err)
		}
	}
	return nil
}

// CheckSeed checks one seed address: host:port, where host is an IP
// address (IPv6 in brackets) or a host name, and port is 1-65535.
func CheckSeed(s string) error {
	if len(s) > maxSeedLen {
		return fmt.Errorf("%d bytes, too long for host:port", len(s))
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || port != strconv.Itoa(p) {
		return fmt.Errorf("%q: port %q is not a number 1-65535", s, port)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" || a.IsUnspecified() {
			return fmt.Errorf("%q: %s cannot be joined", s, host)
		}
		return nil
	}
	if !IsHostName(host) {
		return fmt.Errorf("%q: %q is not an IP address or host name", s, host)
	}
	return nil
}

// IsHostName reports whether s is a host name: at most 253 bytes of
// dot-separated labels of letters, digits, '-' and '_', each 1-63 bytes.
// The agent's retry_join follows the same rule.
func IsHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
