package config

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRedactedHidesSecrets: the gossip key, the join token, ACL secrets
// and check headers are hidden; everything else, paths included, shows.
func TestRedactedHidesSecrets(t *testing.T) {
	c := Default()
	c.NodeName = "edge-1"
	c.Encrypt = "c2VjcmV0LWdvc3NpcC1rZXktMTIzNDU2Nzg="
	c.JoinToken = "join-token-secret-value"
	c.EncryptFile = "/etc/edgeplane/gossip.key"
	c.TLS.KeyFile = "/etc/edgeplane/node-key.pem"
	c.EnableDebug = true
	c.ACL.Tokens = []ACLToken{{Description: "ops", Secret: "acl-secret-of-ops-0001"}, {Description: "file", SecretFile: "/etc/edgeplane/t"}}
	c.Services = []ServiceDef{{Name: "web", Check: CheckDef{HTTP: "http://127.0.0.1/", Header: map[string][]string{"Authorization": {"Bearer check-secret-1"}}},
		Checks: []CheckDef{{HTTP: "http://127.0.0.1/h", Header: map[string][]string{"X-Token": {"check-secret-2"}}}}}}
	b, err := json.Marshal(Redacted(c))
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, secret := range []string{c.Encrypt, c.JoinToken, "acl-secret-of-ops-0001", "check-secret-1", "check-secret-2"} {
		if strings.Contains(out, secret) {
			t.Errorf("Redacted shows %q:\n%s", secret, out)
		}
	}
	for _, shown := range []string{`"node_name":"edge-1"`, `"enable_debug":true`, `"encrypt":"hidden"`, `"join_token":"hidden"`,
		"/etc/edgeplane/gossip.key", "/etc/edgeplane/node-key.pem", "/etc/edgeplane/t", `"Description":"ops"`, `"tombstone_ttl":"72h0m0s"`} {
		if !strings.Contains(out, shown) {
			t.Errorf("Redacted lacks %s:\n%s", shown, out)
		}
	}
	// The configuration itself is not changed.
	if c.ACL.Tokens[0].Secret != "acl-secret-of-ops-0001" || c.Services[0].Checks[0].Header["X-Token"][0] != "check-secret-2" ||
		c.Services[0].Check.Header["Authorization"][0] != "Bearer check-secret-1" {
		t.Fatal("Redacted changed its argument")
	}
	// Unset secrets stay empty: a reader sees they are not set.
	if r := Redacted(Default()); r["encrypt"] != "" || r["join_token"] != "" {
		t.Fatalf("unset secrets: encrypt %v, join_token %v", r["encrypt"], r["join_token"])
	}
}
