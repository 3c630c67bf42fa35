package catalog

import (
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzRegistration feeds ParseRegistration arbitrary bodies: it never
// panics, refuses with ErrInvalid, and what it accepts is a valid
// instance whose records encode and decode back.
func FuzzRegistration(f *testing.F) {
	for _, s := range []string{
		`{"Name":"web","Port":80,"Check":{"TTL":"10s"}}`,
		`{"ID":"web-1","Name":"web","Tags":["a"],"Meta":{"k":"v"},"TaggedAddresses":{"lan":{"Address":"10.0.0.1","Port":80}},"Checks":[{"TTL":"1m","Status":"passing"},null]}`,
		`{"Name":"web","Kind":"connect-proxy"}`,
		`{"Name":"web","Check":{"HTTP":"http://x"}}`,
		`{"Name":"web","ID":"../x"}`,
		`[]`, `null`, `{"Name":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		reg, err := ParseRegistration(body)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		v, err := EncodeInstance(&reg.Service)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeInstance(v); err != nil {
			t.Fatalf("an accepted instance does not decode back: %v", err)
		}
		for _, d := range reg.Checks {
			c := Check{ID: d.ID, Name: d.Name, ServiceID: reg.Service.ID, Type: CheckTypeTTL, Status: StatusCritical, Notes: d.Notes}
			v, err := EncodeCheck(&c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeCheck(v); err != nil {
				t.Fatalf("an accepted check does not decode back: %v", err)
			}
		}
	})
}

// FuzzRecord feeds the decoders of Table's records, which other nodes
// write, arbitrary values: they never panic and refuse with ErrBadRecord.
func FuzzRecord(f *testing.F) {
	in, _ := EncodeInstance(&Instance{ID: "web", Name: "web", Port: 80, Weights: DefaultWeights, Tags: []string{"a"}})
	c, _ := EncodeCheck(&Check{ID: "service:web", Name: "n", ServiceID: "web", Type: CheckTypeTTL, Status: StatusPassing})
	f.Add(in)
	f.Add(c)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := DecodeInstance(b); err != nil && !errors.Is(err, ErrBadRecord) {
			t.Fatal(err)
		}
		if _, err := DecodeCheck(b); err != nil && !errors.Is(err, ErrBadRecord) {
			t.Fatal(err)
		}
	})
}

// FuzzCheckUpdate feeds ParseCheckUpdate arbitrary bodies: it never
// panics, refuses with ErrInvalid, and accepts only a valid status and an
// output within MaxOutput.
func FuzzCheckUpdate(f *testing.F) {
	f.Add([]byte(`{"Status":"passing","Output":"ok"}`))
	f.Add([]byte(`{"Status":"warning"}`))
	f.Add([]byte(`{"Status":"ok","Output":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		status, output, err := ParseCheckUpdate(body)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if !ValidStatus(status) || len(output) > MaxOutput || !utf8.ValidString(output) {
			t.Fatalf("accepted %q, %d bytes of output", status, len(output))
		}
	})
}
