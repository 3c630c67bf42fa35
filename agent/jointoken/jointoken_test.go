package jointoken

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
)

const (
	key16 = "AAECAwQFBgcICQoLDA0ODw=="
	key32 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
)

// token builds a token from raw JSON, bypassing Encode's checks.
func token(json string) string {
	return Prefix + base64.RawURLEncoding.EncodeToString([]byte(json))
}

func TestRoundTrip(t *testing.T) {
	for _, tok := range []Token{
		{Key: key32, Seeds: []string{"10.20.0.11:7946"}},
		{Key: key16, Seeds: []string{"10.20.0.11:7946", "[fd00::1]:7946", "gw-0001.shop.example:17946"}},
		{Key: key32, Seeds: slices.Repeat([]string{"127.0.0.1:7946"}, MaxSeeds)},
	} {
		s, err := Encode(tok)
		if err != nil {
			t.Fatalf("Encode(%v): %v", tok, err)
		}
		if !strings.HasPrefix(s, Prefix) || strings.ContainsAny(s, "=+/ \n") {
			t.Fatalf("Encode(%v) = %q: not ep1. and unpadded base64url", tok, s)
		}
		got, err := Parse(s + "\n") // as read from a file
		if err != nil {
			t.Fatalf("Parse(Encode(%v)): %v", tok, err)
		}
		if got.Key != tok.Key || !slices.Equal(got.Seeds, tok.Seeds) {
			t.Fatalf("Parse(Encode(%v)) = %v", tok, got)
		}
	}
}

func TestEncodeRefusesWhatParseWould(t *testing.T) {
	for _, tok := range []Token{
		{Key: "", Seeds: []string{"127.0.0.1:7946"}},
		{Key: "AAECAwQFBgc=", Seeds: []string{"127.0.0.1:7946"}},
		{Key: key32},
		{Key: key32, Seeds: []string{"127.0.0.1"}},
		{Key: key32, Seeds: slices.Repeat([]string{"127.0.0.1:7946"}, MaxSeeds+1)},
	} {
		if s, err := Encode(tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("Encode(%v) = %q, %v; want ErrInvalid", tok, s, err)
		}
	}
}

// TestParseRefuses: each malformed token fails with ErrInvalid and a
// message that says what is wrong, and no message repeats the key.
func TestParseRefuses(t *testing.T) {
	long := strings.Repeat("a", 64) + "."
	for _, tt := range []struct {
		name, token, want string
	}{
		{"empty", "", "must start with \"ep1.\""},
		{"a gossip key", key32, "not an edgeplane join token"},
		{"other prefix", "tk1." + token(`{"k":"` + key32 + `","s":["127.0.0.1:7946"]}`)[4:], "must start with"},
		{"newer format", "ep2.eyJ9", "format ep2 is not one this edgeplane reads (ep1)"},
		{"oversized", Prefix + strings.Repeat("A", MaxLen), "more than the 4096"},
		{"very oversized", strings.Repeat("x", 1<<20), "more than the 4096"},
		{"padded base64", token(`{"k":"`+key32+`","s":["127.0.0.1:7946"]}`) + "==", "base64url"},
		{"standard alphabet", Prefix + "+/+/", "base64url"},
		{"not JSON", token("hello"), "not JSON"},
		{"truncated JSON", token(`{"k":"` + key32 + `"`), "truncated"},
		{"array", token(`["` + key32 + `"]`), "malformed content"},
		{"null", token(`null`), "no gossip key"},
		{"unknown field", token(`{"k":"` + key32 + `","s":["127.0.0.1:7946"],"x":1}`), `unknown field "x"`},
		{"trailing data", token(`{"k":"` + key32 + `","s":["127.0.0.1:7946"]} {}`), "data after the object"},
		{"key wrong type", token(`{"k":1,"s":["127.0.0.1:7946"]}`), `field "k"`},
		{"no key", token(`{"s":["127.0.0.1:7946"]}`), "no gossip key"},
		{"key not base64", token(`{"k":"not a key!","s":["127.0.0.1:7946"]}`), "not standard base64"},
		{"key 8 bytes", token(`{"k":"AAECAwQFBgc=","s":["127.0.0.1:7946"]}`), "8 bytes, want 16, 24 or 32"},
		{"no seeds", token(`{"k":"` + key32 + `","s":[]}`), "no seed addresses"},
		{"too many seeds", token(`{"k":"` + key32 + `","s":[` + strings.Repeat(`"a:1",`, MaxSeeds) + `"a:1"]}`), "17 seed addresses, at most 16"},
		{"seed without port", token(`{"k":"` + key32 + `","s":["127.0.0.1"]}`), "seed 1: \"127.0.0.1\" is not host:port"},
		{"seed port 0", token(`{"k":"` + key32 + `","s":["a:7946","127.0.0.1:0"]}`), "seed 2"},
		{"seed port word", token(`{"k":"` + key32 + `","s":["127.0.0.1:http"]}`), "not a number"},
		{"seed unspecified", token(`{"k":"` + key32 + `","s":["0.0.0.0:7946"]}`), "cannot be joined"},
		{"seed bad host", token(`{"k":"` + key32 + `","s":["a b:7946"]}`), "not an IP address or host name"},
		{"seed long label", token(`{"k":"` + key32 + `","s":["` + long + `x:1"]}`), "not an IP address or host name"},
		{"seed too long", token(`{"k":"` + key32 + `","s":["` + strings.Repeat("a.", 140) + `a:1"]}`), "too long"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.token)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v, want ErrInvalid with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), key32) {
				t.Fatalf("the error repeats the key: %v", err)
			}
		})
	}
}

// FuzzJoinToken feeds Parse arbitrary text: it never panics, and what it
// accepts encodes again to a token that parses to the same content, within
// the limits.
func FuzzJoinToken(f *testing.F) {
	good, _ := Encode(Token{Key: key32, Seeds: []string{"10.0.0.1:7946", "[fd00::1]:7946", "gw.example:7946"}})
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(token(`{"k":"` + key16 + `","s":["a:1"]}`))
	f.Add(token(`{"K":"` + key16 + `","S":["a:1"],"k":"` + key32 + `"}`))
	f.Add(token(`{"k":"` + key32 + `","s":["127.0.0.1:0"]}`))
	f.Add(token(`null`))
	f.Add("ep2.e30")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) = %v, not ErrInvalid", s, err)
			}
			if tok.Key != "" || tok.Seeds != nil {
				t.Fatalf("Parse(%q) failed but returned %v", s, tok)
			}
			return
		}
		if len(tok.Seeds) == 0 || len(tok.Seeds) > MaxSeeds {
			t.Fatalf("Parse(%q) accepted %d seeds", s, len(tok.Seeds))
		}
		again, err := Encode(tok)
		if err != nil {
			t.Fatalf("Parse(%q) accepted %v, which Encode refuses: %v", s, tok, err)
		}
		back, err := Parse(again)
		if err != nil || back.Key != tok.Key || !slices.Equal(back.Seeds, tok.Seeds) {
			t.Fatalf("re-encoded %v parses to %v, %v", tok, back, err)
		}
	})
}
