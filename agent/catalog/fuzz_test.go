package catalog

import (
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzRegistration feeds ParseRegistration, and ParseRegistrationWith
// as for a configuration file, arbitrary bodies: they never panic,
// refuse with ErrInvalid, never accept a script check through the API,
// and what they accept is a valid instance whose records, and local
// entries with the checks' definitions, encode and decode back.
func FuzzRegistration(f *testing.F) {
	for _, s := range []string{
		`{"Name":"web","Port":80,"Check":{"TTL":"10s"}}`,
		`{"ID":"web-1","Name":"web","Tags":["a"],"Meta":{"k":"v"},"TaggedAddresses":{"lan":{"Address":"10.0.0.1","Port":80}},"Checks":[{"TTL":"1m","Status":"passing"},null]}`,
		`{"Name":"web","Kind":"connect-proxy"}`,
		`{"Name":"web","Check":{"HTTP":"http://x"}}`,
		`{"Name":"web","Check":{"HTTP":"https://127.0.0.1:8443/h","Interval":"10s","Timeout":"2s","Method":"POST","Body":"{}","Header":{"X":["1"]},"tls_skip_verify":true,"TLSServerName":"web"}}`,
		`{"Name":"web","Check":{"TCP":"127.0.0.1:5432","Interval":"1s","SuccessBeforePassing":2,"FailuresBeforeWarning":1,"failures_before_critical":3,"deregister_critical_service_after":"1m"}}`,
		`{"Name":"web","Check":{"Args":["/bin/check","-v"],"Interval":"10s"}}`,
		`{"Name":"web","Check":{"script_args":["/bin/check"],"Interval":"10s","Timeout":"1m"}}`,
		`{"Name":"web","Check":{"TTL":"10s","DeregisterCriticalServiceAfter":"90m"}}`,
		`{"Name":"web","Check":{"GRPC":"127.0.0.1:9000","Interval":"10s"}}`,
		`{"Name":"web","ID":"../x"}`,
		`[]`, `null`, `{"Name":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		api, apiErr := ParseRegistration(body)
		local, err := ParseRegistrationWith(body, ParseOptions{LocalScriptChecks: true})
		if apiErr == nil {
			if err != nil {
				t.Fatalf("accepted through the API, refused from a file: %v", err)
			}
			for _, d := range api.Checks {
				if d.Active != nil && (d.Active.Type == CheckTypeScript || len(d.Active.Args) > 0) {
					t.Fatalf("a script check accepted through the API: %+v", d.Active)
				}
			}
		}
		for _, e := range []error{apiErr, err} {
			if e != nil && !errors.Is(e, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", e)
			}
		}
		if err != nil {
			return
		}
		reg := local
		v, err := EncodeInstance(&reg.Service)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeInstance(v); err != nil {
			t.Fatalf("an accepted instance does not decode back: %v", err)
		}
		for _, d := range reg.Checks {
			c := Check{ID: d.ID, Name: d.Name, ServiceID: reg.Service.ID, Type: d.Type(), Status: StatusCritical, Notes: d.Notes}
			v, err := EncodeCheck(&c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeCheck(v); err != nil {
				t.Fatalf("an accepted check does not decode back: %v", err)
			}
			lc := localCheck{Check: c, TTL: d.TTL.Milliseconds(), Active: d.Active, DeregAfter: d.DeregisterCriticalServiceAfter.Milliseconds()}
			lv, err := recordEnc.Marshal(&lc)
			if err != nil {
				t.Fatal(err)
			}
			var back localCheck
			if err := recordDec.Unmarshal(lv, &back); err != nil {
				t.Fatalf("an accepted check's local entry does not decode back: %v", err)
			}
			if err := back.validate(); err != nil {
				t.Fatalf("an accepted check's local entry is not valid: %v", err)
			}
			if !reflect.DeepEqual(back, lc) {
				t.Fatalf("local entry %+v decoded as %+v", lc, back)
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
