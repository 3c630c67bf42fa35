package schema

import (
	"errors"
	"testing"
)

// FuzzDecode: any bytes decode to a schema or to an error wrapping
// ErrInvalidSchema, never a panic; a decoded schema validates anything.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"type":"int","min":1,"max":9}`, `{"type":"string","pattern":"^a+$","max":4}`,
		`{"type":"duration","max":"60s"}`, `{"type":"enum","values":["a","b"]}`, `{"type":"json","required":["x"]}`,
		`{"type":"bool"}`, `[]`, `{"type":"float","min":1e308}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidSchema) {
				t.Fatalf("error %v does not wrap ErrInvalidSchema", err)
			}
			return
		}
		_ = s.Validate("k", b)
	})
}

// FuzzValidate: a value and a schema from the fuzzer; a violation names
// the key and a rule.
func FuzzValidate(f *testing.F) {
	f.Add([]byte(`{"type":"duration","max":"60s"}`), []byte("90s"))
	f.Add([]byte(`{"type":"json","required":["a"]}`), []byte(`{"a":1}`))
	f.Add([]byte(`{"type":"string","pattern":"^[a-z]{1,3}$","min":1}`), []byte("abc"))
	f.Add([]byte(`{"type":"int","min":-5}`), []byte("-6"))
	f.Fuzz(func(t *testing.T, schema, value []byte) {
		s, err := Decode(schema)
		if err != nil {
			return
		}
		err = s.Validate("app/k", value)
		var v *Violation
		if err != nil && (!errors.As(err, &v) || v.Key != "app/k" || v.Rule == "") {
			t.Fatalf("Validate: %v", err)
		}
	})
}
