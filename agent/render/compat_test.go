package render

import (
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/catalog"
)

// dryRender renders spec once over f's store with cfg's members, and
// returns what it would write.
func dryRender(t *testing.T, f *fixture, tmpl string, members func() []Member) string {
	t.Helper()
	cfg := f.config(Spec{Template: tmpl})
	cfg.Members = members
	m := f.start(cfg)
	out := m.Once(t.Context(), true)
	if len(out) != 1 || out[0].LastError != "" {
		t.Fatalf("render: %+v", out)
	}
	return string(out[0].Content)
}

// Service entries carry consul-template v0.41's fields: the node's ID,
// address, meta and tagged addresses from membership, sorted tags, the
// instance's tagged addresses, and the checks the HTTP API lists
// (serfHealth first, critical once the member failed). Instances of a
// node that left are not listed; those of a node membership does not
// know are, by name, alive.
func TestServiceEntriesAsConsulTemplate(t *testing.T) {
	f := newFixture(t)
	register(t, f.st, "n1", catalog.Instance{ID: "web1", Name: "web", Port: 80, Tags: []string{"v1", "prod"},
		Meta:            map[string]string{"version": "2"},
		TaggedAddresses: map[string]catalog.Address{"lan": {Address: "10.0.0.9", Port: 8080}}},
		catalog.Check{ID: "service:web1", Name: "web1 alive", ServiceID: "web1", Status: catalog.StatusPassing, Notes: "note"})
	register(t, f.st, "n2", catalog.Instance{ID: "web2", Name: "web", Address: "10.0.0.2", Port: 81})
	register(t, f.st, "n3", catalog.Instance{ID: "web3", Name: "web", Port: 82, Tags: []string{"gone"}})
	register(t, f.st, "n4", catalog.Instance{ID: "web4", Name: "web", Port: 83})
	register(t, f.st, "n4", catalog.Instance{ID: "db1", Name: "db", Port: 5432})
	node := func(name, addr string) Node {
		return Node{ID: "id-" + name, Node: name, Address: addr, Datacenter: "dc1",
			TaggedAddresses: map[string]string{"lan": addr}, Meta: map[string]string{"site": "s-" + name}}
	}
	members := func() []Member {
		return []Member{{Node: node("n2", "10.0.0.2"), Failed: true}, {Node: node("n1", "10.0.0.1")},
			{Node: node("n3", "10.0.0.3"), Left: true}}
	}
	got := dryRender(t, f, `{{range service "web|any"}}{{.Node}} {{.NodeID}} {{.NodeAddress}} {{.Address}}:{{.Port}} `+
		`{{.Tags}} {{.Status}} {{.NodeMeta.site}} {{.NodeTaggedAddresses.lan}} {{.ServiceTaggedAddresses.lan.Address}} `+
		`{{.ServiceMeta.version}}{{.ServiceMeta.absent}} {{.Weights.Passing}}`+
		`{{range .Checks}} {{.CheckID}}={{.Status}}:{{.Output}}:{{.Notes}}:{{.ServiceTags}}:{{.Type}}{{end}}
{{end}}{{range services}}{{.Name}}{{.Tags}} {{end}}
{{range nodes}}{{.Node}} {{.ID}} {{.Address}} {{.Datacenter}} {{.Meta.site}} {{.TaggedAddresses.lan}};{{end}}
{{nodes | toJSON}}
{{services | toJSON}}`, members)
	want := `n1 id-n1 10.0.0.1 10.0.0.1:80 [prod v1] passing s-n1 10.0.0.1 10.0.0.9 2 1` +
		` serfHealth=passing:Agent alive and reachable::[]: service:web1=passing::note:[v1 prod]:ttl
n2 id-n2 10.0.0.2 10.0.0.2:81 [] critical s-n2 10.0.0.2   1 serfHealth=critical:Agent not live or unreachable::[]:
n4   :83 [] passing     1 serfHealth=passing:Agent alive and reachable::[]:
db[] web[prod v1] 
n1 id-n1 10.0.0.1 dc1 s-n1 10.0.0.1;n2 id-n2 10.0.0.2 dc1 s-n2 10.0.0.2;
[{"ID":"id-n1","Node":"n1","Address":"10.0.0.1","Datacenter":"dc1","TaggedAddresses":{"lan":"10.0.0.1"},"Meta":{"site":"s-n1"}},` +
		`{"ID":"id-n2","Node":"n2","Address":"10.0.0.2","Datacenter":"dc1","TaggedAddresses":{"lan":"10.0.0.2"},"Meta":{"site":"s-n2"}}]
[{"Name":"db","Tags":[]},{"Name":"web","Tags":["prod","v1"]}]`
	if got != want {
		t.Fatalf("rendered\n%s\nwant\n%s", got, want)
	}
}

// ls and tree return consul-template's KeyPair, fields in its order;
// keyOrDefault serves the default for an empty value; ls "" lists
// nothing.
func TestKeyFunctionsAsConsulTemplate(t *testing.T) {
	f := newFixture(t)
	put(t, f.st, "app/a", "1")
	put(t, f.st, "app/empty", "")
	put(t, f.st, "app/sub/", "")
	put(t, f.st, "app/sub/b", "2")
	put(t, f.st, "top", "t")
	got := dryRender(t, f, `{{range tree "app"}}{{.Key}}={{.Value}} {{.Path}} {{.LockIndex}} "{{.Session}}";{{end}}|`+
		`{{range ls "app/"}}{{.Key}};{{end}}|{{len (ls "")}}|{{keyOrDefault "app/empty" "def"}} {{keyOrDefault "app/a" "def"}}|`+
		`{{with index (ls "app") 0}}{{toJSON .}}{{end}}`, nil)
	want := `a=1 app/a 0 "";empty= app/empty 0 "";sub/b=2 app/sub/b 0 "";|a;empty;|0|def 1|{"Path":"app/a","Key":"a","Value":"1","CreateIndex":`
	if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, `,"LockIndex":0,"Flags":0,"Session":""}`) {
		t.Fatalf("rendered\n%s\nwant it to start with\n%s", got, want)
	}
}
