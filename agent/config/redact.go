package config

import "maps"

// Hidden stands in Redacted's answer for a secret that is set.
const Hidden = "hidden"

// Redacted returns the configuration c as it is in effect, by option key,
// for /v1/agent/self and debug bundles, with every secret replaced by
// Hidden: the gossip key (encrypt), the join token (which holds it), the
// ACL tokens' secrets, and the headers of configured HTTP checks, which
// may carry credentials. Paths of files holding secrets (encrypt_file,
// join_token_file, tls.key_file, acl.tokens' secret_file) are shown: a
// path is not its content.
func Redacted(c Config) map[string]any {
	out := make(map[string]any, len(options))
	for i := range options {
		o := &options[i]
		if o.value == nil || o.field == nil {
			continue
		}
		out[o.key] = o.value(&c)
	}
	hide := func(key, v string) {
		if v != "" {
			out[key] = Hidden
		}
	}
	hide("encrypt", c.Encrypt)
	hide("join_token", c.JoinToken)
	tokens := make([]ACLToken, len(c.ACL.Tokens))
	for i, t := range c.ACL.Tokens {
		if t.Secret != "" {
			t.Secret = Hidden
		}
		tokens[i] = t
	}
	out["acl.tokens"] = tokens
	services := make([]ServiceDef, len(c.Services))
	for i, s := range c.Services {
		s.Checks = append([]CheckDef(nil), s.Checks...)
		for j := range s.Checks {
			s.Checks[j].Header = hideHeaders(s.Checks[j].Header)
		}
		s.Check.Header = hideHeaders(s.Check.Header)
		services[i] = s
	}
	out["services"] = services
	watches := make([]WatchDef, len(c.Watches))
	for i, w := range c.Watches {
		if w.Token != "" {
			w.Token = Hidden
		}
		watches[i] = w
	}
	out["watches"] = watches
	return out
}

// hideHeaders returns h with every value Hidden.
func hideHeaders(h map[string][]string) map[string][]string {
	if len(h) == 0 {
		return h
	}
	out := maps.Clone(h)
	for k := range out {
		out[k] = []string{Hidden}
	}
	return out
}
