package config

import "github.com/edgeplane/edgeplane/agent/layers"

// checkLayers applies the rules of layers.CheckTemplates: 1 to 16
// non-empty key prefixes, without a leading '/', whose only placeholders
// are {{node}}, {{site}} and {{env}}.
func checkLayers(ts []string) error {
	if err := layers.CheckTemplates(ts); err != nil {
		return invalidf("%v", err)
	}
	return nil
}
