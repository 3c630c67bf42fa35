// Package tmpl is Go's text/template (Go 1.26) without method calls: a
// template evaluates fields, map keys and functions, never a method of
// the data ({{.Name}} works, {{.String}} on a value with a String method
// does not). text/template finds methods with reflect.Value.MethodByName,
// and a binary that can call it keeps every exported method of every type
// it links, which cost edgeplane about 2.5 MB on each target. Parsing is
// text/template/parse's, unchanged. exec.go, funcs.go, option.go and
// template.go are text/template's with the package renamed and the method
// lookup in evalField removed; fmtsort.go is internal/fmtsort's. The Go
// authors' license is in LICENSE.
package tmpl
