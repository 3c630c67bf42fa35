package render

import (
	"fmt"
	"testing"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

// BenchmarkRender measures one render of a typical upstream file: 20
// instances of a service from the catalog and 50 keys under a prefix, in
// one read transaction, with its dependencies recorded (no file written).
func BenchmarkRender(b *testing.B) {
	st := testutil.OpenStore(b)
	for i := range 50 {
		if _, err := st.Put(fmt.Sprintf("app/upstream/k%02d", i), []byte("value"), 0); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 20 {
		in := catalog.Instance{ID: fmt.Sprintf("web%02d", i), Name: "web", Address: fmt.Sprintf("10.0.0.%d", i), Port: 80, Weights: catalog.DefaultWeights}
		register(b, st, fmt.Sprintf("n%02d", i), in, catalog.Check{ID: "c" + in.ID, Name: "alive", ServiceID: in.ID, Status: catalog.StatusPassing, Type: "ttl"})
	}
	m, err := New(Config{Store: st, Specs: []Spec{{Destination: "/nonexistent/out", Template: `upstream web {
{{- range service "web"}}
  server {{.Address}}:{{.Port}};
{{- end}}
}
{{range tree "app/upstream"}}{{.Key}} = {{.Value}}
{{end}}`}}})
	if err != nil {
		b.Fatal(err)
	}
	blk := m.blocks[0]
	var size int
	b.ReportAllocs()
	for b.Loop() {
		content, _, err := blk.render()
		if err != nil {
			b.Fatal(err)
		}
		size = len(content)
	}
	b.ReportMetric(float64(size), "bytes/render")
}
