package schema

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"unknown field":        `{"type":"int","maximum":3}`,
		"unknown type":         `{"type":"number"}`,
		"no type":              `{}`,
		"array":                `["type","int"]`,
		"string":               `"int"`,
		"null":                 `null`,
		"number":               `42`,
		"trailing data":        `{"type":"int"} {"type":"int"}`,
		"min above max":        `{"type":"int","min":5,"max":1}`,
		"int bound not whole":  `{"type":"int","max":1.5}`,
		"float bound string":   `{"type":"float","max":"3"}`,
		"duration bound num":   `{"type":"duration","max":60}`,
		"duration bound bad":   `{"type":"duration","max":"sixty"}`,
		"duration min>max":     `{"type":"duration","min":"2m","max":"60s"}`,
		"negative length":      `{"type":"string","min":-1}`,
		"bad pattern":          `{"type":"string","pattern":"a("}`,
		"pattern on int":       `{"type":"int","pattern":"a"}`,
		"values on string":     `{"type":"string","values":["a"]}`,
		"enum without values":  `{"type":"enum"}`,
		"enum twice":           `{"type":"enum","values":["a","a"]}`,
		"required on enum":     `{"type":"enum","values":["a"],"required":["x"]}`,
		"required twice":       `{"type":"json","required":["x","x"]}`,
		"min on bool":          `{"type":"bool","min":0}`,
		"type of wrong type":   `{"type":7}`,
		"values of wrong type": `{"type":"enum","values":"a"}`,
		"huge":                 `{"type":"enum","values":["` + strings.Repeat("a", MaxSize) + `"]}`,
		"long pattern":         `{"type":"string","pattern":"` + strings.Repeat("(a*)*", MaxPatternLen/5+1) + `"}`,
	} {
		if _, err := Decode([]byte(in)); !errors.Is(err, ErrInvalidSchema) {
			t.Errorf("%s: Decode(%.60s) = %v, want ErrInvalidSchema", name, in, err)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		schema, value, rule string // rule "": passes
	}{
		{`{"type":"duration","max":"60s"}`, "90s", "90s above max 60s"},
		{`{"type":"duration","min":"1s","max":"60s"}`, "30s", ""},
		{`{"type":"duration","min":"1s"}`, "500ms", "500ms below min 1s"},
		{`{"type":"duration"}`, "soon", `"soon" is not a duration`},
		{`{"type":"int","min":1,"max":10}`, "10", ""},
		{`{"type":"int","min":1,"max":10}`, "11", "11 above max 10"},
		{`{"type":"int","min":1}`, "0", "0 below min 1"},
		{`{"type":"int"}`, "1.5", `"1.5" is not an int`},
		{`{"type":"int"}`, " 1", `" 1" is not an int`},
		{`{"type":"float","max":0.5}`, "0.75", "0.75 above max 0.5"},
		{`{"type":"float"}`, "NaN", `"NaN" is not a float`},
		{`{"type":"float"}`, "2.5e3", ""},
		{`{"type":"bool"}`, "true", ""},
		{`{"type":"bool"}`, "yes", `"yes" is not a bool (true or false)`},
		{`{"type":"string","min":2,"max":3}`, "é", "length 1 below min 2"},
		{`{"type":"string","max":3}`, "abcd", "length 4 above max 3"},
		{`{"type":"string","pattern":"^[a-z]+$"}`, "Abc", `"Abc" does not match pattern "^[a-z]+$"`},
		{`{"type":"string"}`, "\xff", "not valid UTF-8"},
		{`{"type":"enum","values":["debug","info"]}`, "info", ""},
		{`{"type":"enum","values":["debug","info"]}`, "trace", `"trace" is not one of debug, info`},
		{`{"type":"json"}`, `{"a":`, "not valid JSON"},
		{`{"type":"json","required":["a","b"]}`, `{"a":1}`, `required field "b" missing`},
		{`{"type":"json","required":["a"]}`, `[1]`, "not a JSON object"},
		{`{"type":"json","required":["a"]}`, `{"a":null}`, ""},
	} {
		s, err := Decode([]byte(c.schema))
		if err != nil {
			t.Fatalf("Decode(%s): %v", c.schema, err)
		}
		err = s.Validate("app/k", []byte(c.value))
		if c.rule == "" {
			if err != nil {
				t.Errorf("%s: %q: %v, want no error", c.schema, c.value, err)
			}
			continue
		}
		var v *Violation
		if !errors.As(err, &v) || v.Key != "app/k" || v.Rule != c.rule {
			t.Errorf("%s: %q: %v, want app/k: %s", c.schema, c.value, err, c.rule)
		}
	}
}

func TestViolationNamesKeyAndRule(t *testing.T) {
	s, err := Decode([]byte(`{"type":"duration","max":"60s"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate("app/timeout", []byte("90s")); err == nil || err.Error() != "app/timeout: 90s above max 60s" {
		t.Fatalf("got %v", err)
	}
}
