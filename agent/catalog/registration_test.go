package catalog

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseRegistrationDefaults(t *testing.T) {
	reg, err := ParseRegistration([]byte(`{"Name":"web","Port":8080,"Tags":["v1"],
		"Checks":[{"TTL":"15s"},{"TTL":"1m","Status":"passing","Notes":"n"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	in := reg.Service
	if in.ID != "web" || in.Name != "web" || in.Port != 8080 || in.Weights != DefaultWeights || len(in.Tags) != 1 {
		t.Fatalf("instance %+v", in)
	}
	want := []CheckDef{
		{ID: "service:web:1", Name: "Service 'web' check", TTL: 15 * time.Second},
		{ID: "service:web:2", Name: "Service 'web' check", TTL: time.Minute, Status: StatusPassing, Notes: "n"},
	}
	if len(reg.Checks) != 2 || reg.Checks[0] != want[0] || reg.Checks[1] != want[1] {
		t.Fatalf("checks %+v, want %+v", reg.Checks, want)
	}

	reg, err = ParseRegistration([]byte(`{"ID":"web-1","Name":"web","Check":{"TTL":"10s","CheckID":"mine"},
		"Weights":{"Passing":3,"Warning":0}}`))
	if err != nil {
		t.Fatal(err)
	}
	if reg.Checks[0].ID != "mine" || reg.Service.Weights != (Weights{Passing: 3}) {
		t.Fatalf("registration %+v", reg)
	}
	reg, err = ParseRegistration([]byte(`{"name":"web","enable_tag_override":true,"tagged_addresses":{"lan":{"Address":"10.0.0.1","Port":80}}}`))
	if err != nil || !reg.Service.EnableTagOverride || reg.Service.TaggedAddresses["lan"].Port != 80 {
		t.Fatalf("snake_case forms: %+v, %v", reg, err)
	}
	reg, err = ParseRegistration([]byte(`{"Name":"web","Check":{"TTL":"10s"},"Checks":null}`))
	if err != nil || reg.Checks[0].ID != "service:web" {
		t.Fatalf("one check: %+v, %v", reg, err)
	}
}

func TestParseRegistrationRefusals(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`not json`, "decode"},
		{`{"Name":"web"} {}`, "after"},
		{`{"ID":"x"}`, "Name"},
		{`{"Name":"web","Unknown":1}`, "unknown field"},
		{`{"Name":"web","Kind":"connect-proxy"}`, "Kind"},
		{`{"Name":"web","Proxy":{"DestinationServiceName":"db"}}`, "Proxy"},
		{`{"Name":"web","Connect":{"Native":true}}`, "Connect"},
		{`{"Name":"web","Namespace":"ns1"}`, "Namespace"},
		{`{"Name":"web","Partition":"p"}`, "Partition"},
		{`{"Name":"web","SocketPath":"/run/x"}`, "SocketPath"},
		{`{"Name":"web","ID":"../other/web"}`, "ID"},
		{`{"Name":"web","ID":".."}`, "ID"},
		{`{"Name":"web","ID":"a/b"}`, "ID"},
		{`{"Name":"we b"}`, "Name"},
		{`{"Name":"web","Port":70000}`, "Port"},
		{`{"Name":"web","Weights":{"Passing":0,"Warning":1}}`, "Weights"},
		{`{"Name":"web","Meta":{"consul-x":"1"}}`, "reserved"},
		{`{"Name":"web","Meta":{"a.b":"1"}}`, "Meta"},
		{`{"Name":"web","Tags":["a\u0000"]}`, "control"},
		{`{"Name":"web","Check":{"HTTP":"http://127.0.0.1/","Interval":"10s"}}`, "HTTP checks are not supported yet"},
		{`{"Name":"web","Check":{"TCP":"127.0.0.1:80","Interval":"10s"}}`, "TCP checks"},
		{`{"Name":"web","Check":{"ScriptArgs":["true"],"Interval":"10s"}}`, "script"},
		{`{"Name":"web","Check":{"GRPC":"127.0.0.1:9000"}}`, "gRPC"},
		{`{"Name":"web","Check":{"H2PING":"127.0.0.1:9000"}}`, "H2PING"},
		{`{"Name":"web","Check":{"UDP":"127.0.0.1:53"}}`, "UDP"},
		{`{"Name":"web","Check":{"DockerContainerID":"abc"}}`, "Docker"},
		{`{"Name":"web","Check":{"AliasService":"db"}}`, "alias"},
		{`{"Name":"web","Check":{"Name":"x"}}`, "no TTL"},
		{`{"Name":"web","Check":{"TTL":"10"}}`, "TTL"},
		{`{"Name":"web","Check":{"TTL":"10ms"}}`, "TTL"},
		{`{"Name":"web","Check":{"TTL":"10s","Interval":"5s"}}`, "Interval"},
		{`{"Name":"web","Check":{"TTL":"10s","Status":"ok"}}`, "Status"},
		{`{"Name":"web","Check":{"TTL":"10s","DeregisterCriticalServiceAfter":"1m"}}`, "Deregister"},
		{`{"Name":"web","Check":{"TTL":"10s","CheckID":"a/b"}}`, "CheckID"},
		{`{"Name":"web","Check":{"TTL":"10s","CheckID":"c"},"Checks":[{"TTL":"10s","CheckID":"c"}]}`, "twice"},
		{`{"Name":"web","Tags":[` + strings.Repeat(`"t",`, maxTags) + `"t"]}`, "Tags"},
		{`{"Name":"` + strings.Repeat("n", maxNameLen+1) + `"}`, "Name"},
		{`{"Name":"web","Address":"` + strings.Repeat("a", MaxRegistrationSize) + `"}`, "body"},
	} {
		_, err := ParseRegistration([]byte(tc.body))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			name := tc.body
			if len(name) > 80 {
				name = name[:80]
			}
			t.Errorf("%s: %v, want ErrInvalid about %q", name, err, tc.want)
		}
	}
}

func TestCapOutput(t *testing.T) {
	s := strings.Repeat("é", MaxOutput) // two bytes each
	got := CapOutput(s)
	if len(got) > MaxOutput || len(got) < MaxOutput-1 || !strings.HasPrefix(s, got) {
		t.Fatalf("CapOutput cut to %d bytes", len(got))
	}
	if got := CapOutput("ok\xff"); got != "ok\uFFFD" {
		t.Fatalf("CapOutput(invalid) = %q", got)
	}
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		key            string
		kind, node, id string
		ok             bool
	}{
		{"svc/node-a/web", "svc", "node-a", "web", true},
		{"chk/node-a/service:web", "chk", "node-a", "service:web", true},
		{"svc/node-a/web/x", "", "", "", false},
		{"svc/node-a/..", "", "", "", false},
		{"kv/node-a/web", "", "", "", false},
		{"svc//web", "", "", "", false},
	} {
		kind, node, id, ok := ParseKey(tc.key)
		if kind != tc.kind || node != tc.node || id != tc.id || ok != tc.ok {
			t.Errorf("ParseKey(%q) = %q %q %q %v", tc.key, kind, node, id, ok)
		}
	}
}
