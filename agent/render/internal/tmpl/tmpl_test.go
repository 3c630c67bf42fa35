package tmpl

import (
	"strings"
	"testing"
)

type data struct{ Name string }

func (data) Method() string { return "called" }

// Fields, map keys and functions evaluate; methods of the data do not.
func TestNoMethodCalls(t *testing.T) {
	var b strings.Builder
	tm, err := New("t").Funcs(FuncMap{"up": strings.ToUpper}).Parse(`{{.Name}} {{up .Name}} {{range $k, $v := .M}}{{$k}}={{$v}} {{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.Execute(&b, struct {
		data
		M map[string]int
	}{data{"x"}, map[string]int{"b": 2, "a": 1}}); err != nil || b.String() != "x X a=1 b=2 " {
		t.Fatalf("%q, %v", b.String(), err)
	}
	if tm, err = New("t").Parse(`{{.Method}}`); err != nil {
		t.Fatal(err)
	}
	err = tm.Execute(&b, data{"x"})
	if err == nil || !strings.Contains(err.Error(), "can't evaluate field Method") {
		t.Fatalf("a method was called: %v", err)
	}
}
