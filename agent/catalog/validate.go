package catalog

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of a registration. A record within them stays a few hundred
// bytes for a typical service, under the 1,024 bytes of a delta gossip
// pushes directly; a large one (many tags, much metadata) goes over RPC.
const (
	maxIDLen        = 128 // a service's ID
	maxCheckIDLen   = 160 // a check's ID: room for "service:<id>:<n>"
	maxNameLen      = 128 // a service's name
	maxTextLen      = 255 // a tag, an address, a check's name
	maxNotesLen     = 1024
	maxTags         = 64
	maxMeta         = 64
	maxMetaKeyLen   = 128
	maxMetaValueLen = 512
	maxTagged       = 16
	maxChecks       = 32
	maxWeight       = 65535
	// MaxServices and MaxNodeChecks bound what one node registers, so
	// that no local client fills the disk or every replica.
	MaxServices   = 1024
	MaxNodeChecks = 4096
	// MinTTL and MaxTTL bound a TTL check's TTL.
	MinTTL = time.Second
	MaxTTL = 30 * 24 * time.Hour
)

// ErrInvalid reports a registration or update that breaks a rule; its
// message says which field and why. The API answers it with 400.
var ErrInvalid = errors.New("invalid registration")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// checkID checks a service's or a check's ID: 1 to maxCheckIDLen bytes of
// ASCII letters, digits, '-', '_', '.' and ':', and not "." or "..". IDs
// are path segments of keys and URLs: a '/' could name another node's
// records.
func checkID(id string) error {
	if id == "" || len(id) > maxCheckIDLen {
		return fmt.Errorf("%q: an ID is 1 to %d bytes", id, maxCheckIDLen)
	}
	if id == "." || id == ".." {
		return fmt.Errorf("%q is not an ID", id)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isIDByte(c) {
			return fmt.Errorf("%q: an ID holds only ASCII letters, digits, '-', '_', '.' and ':'", id)
		}
	}
	return nil
}

func isIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':'
}

// checkName checks a service's name: 1 to maxNameLen bytes of ASCII
// letters, digits, '-', '_' and '.'.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%q: a name is 1 to %d bytes", name, maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == ':' || !isIDByte(c) {
			return fmt.Errorf("%q: a name holds only ASCII letters, digits, '-', '_' and '.'", name)
		}
	}
	return nil
}

// checkText checks free text of at most max bytes: valid UTF-8 without
// control characters.
func checkText(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%s: %d bytes, at most %d", what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s: not valid UTF-8", what)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return fmt.Errorf("%s: control characters", what)
	}
	return nil
}

// checkMetaKey checks a key of Meta or TaggedAddresses: 1 to
// maxMetaKeyLen bytes of ASCII letters, digits, '-' and '_'.
func checkMetaKey(what, k string) error {
	if k == "" || len(k) > maxMetaKeyLen {
		return fmt.Errorf("%s key %q: 1 to %d bytes", what, k, maxMetaKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c == '.' || c == ':' || !isIDByte(c) {
			return fmt.Errorf("%s key %q: only ASCII letters, digits, '-' and '_'", what, k)
		}
	}
	return nil
}

// validate checks an instance against the rules of a registration.
func (in *Instance) validate() error {
	if err := checkName(in.Name); err != nil {
		return fmt.Errorf("Name: %w", err)
	}
	if err := checkID(in.ID); err != nil || len(in.ID) > maxIDLen {
		return fmt.Errorf("ID: %v", orLong(err, in.ID, maxIDLen))
	}
	if len(in.Tags) > maxTags {
		return fmt.Errorf("Tags: %d tags, at most %d", len(in.Tags), maxTags)
	}
	for _, t := range in.Tags {
		if err := checkText("Tags", t, maxTextLen); err != nil {
			return err
		}
	}
	if err := checkText("Address", in.Address, maxTextLen); err != nil {
		return err
	}
	if err := checkPort("Port", in.Port); err != nil {
		return err
	}
	if len(in.TaggedAddresses) > maxTagged {
		return fmt.Errorf("TaggedAddresses: %d, at most %d", len(in.TaggedAddresses), maxTagged)
	}
	for k, a := range in.TaggedAddresses {
		if err := checkMetaKey("TaggedAddresses", k); err != nil {
			return err
		}
		if err := checkText("TaggedAddresses "+k, a.Address, maxTextLen); err != nil {
			return err
		}
		if err := checkPort("TaggedAddresses "+k, a.Port); err != nil {
			return err
		}
	}
	if len(in.Meta) > maxMeta {
		return fmt.Errorf("Meta: %d pairs, at most %d", len(in.Meta), maxMeta)
	}
	for k, v := range in.Meta {
		if err := checkMetaKey("Meta", k); err != nil {
			return err
		}
		if strings.HasPrefix(k, "consul-") {
			return fmt.Errorf("Meta key %q: the prefix consul- is reserved", k)
		}
		if err := checkText("Meta "+k, v, maxMetaValueLen); err != nil {
			return err
		}
	}
	if w := in.Weights; w.Passing < 1 || w.Passing > maxWeight || w.Warning < 0 || w.Warning > maxWeight {
		return fmt.Errorf("Weights: Passing 1 to %d, Warning 0 to %d", maxWeight, maxWeight)
	}
	return nil
}

func orLong(err error, s string, max int) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%q: at most %d bytes", s, max)
}

func checkPort(what string, p int) error {
	if p < 0 || p > 65535 {
		return fmt.Errorf("%s: %d is not a port (0 to 65535)", what, p)
	}
	return nil
}

// validate checks a check record.
func (c *Check) validate() error {
	if err := checkID(c.ID); err != nil {
		return fmt.Errorf("CheckID: %w", err)
	}
	if err := checkText("Name", c.Name, maxTextLen); err != nil {
		return err
	}
	// A node's own checks (maintenance) belong to no service.
	if err := checkID(c.ServiceID); c.ServiceID != "" && (err != nil || len(c.ServiceID) > maxIDLen) {
		return fmt.Errorf("ServiceID: %v", orLong(err, c.ServiceID, maxIDLen))
	}
	// Other types than TTL come with later versions: a reader keeps
	// their checks, whose status means the same.
	if c.Type == "" || checkMetaKey("Type", c.Type) != nil {
		return fmt.Errorf("Type %q: not a check type", c.Type)
	}
	if !ValidStatus(c.Status) {
		return fmt.Errorf("Status %q: passing, warning or critical", c.Status)
	}
	if err := checkText("Notes", c.Notes, maxNotesLen); err != nil {
		return err
	}
	if len(c.Output) > MaxOutput || !utf8.ValidString(c.Output) {
		return fmt.Errorf("Output: at most %d bytes of UTF-8", MaxOutput)
	}
	return nil
}

// ValidStatus reports whether s is passing, warning or critical.
func ValidStatus(s string) bool {
	return s == StatusPassing || s == StatusWarning || s == StatusCritical
}

// CapOutput cuts output to MaxOutput bytes at a UTF-8 boundary, and
// replaces invalid UTF-8.
func CapOutput(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxOutput {
		return s
	}
	n := MaxOutput
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
