// Package layers resolves a key through layers of the replicated KV
// store, so that one setting can be given fleet-wide and overridden per
// environment, site or node: the first part of a config centre.
//
// # Model
//
// A layer is a key prefix. The configuration lists them from the most
// specific to the most general, by default
//
//	node/{{node}}   site/{{site}}   env/{{env}}   global
//
// where {{node}}, {{site}} and {{env}} stand for this node's name, site
// and environment. A layer whose placeholder is empty on this node (a
// node without site or environment) is skipped. A key such as
// "app/timeout" is looked up as "<layer>/app/timeout" in each layer in
// turn: the first layer that holds it live (not deleted) wins. So on node
// n1 of site berlin, "node/n1/app/timeout" beats
// "site/berlin/app/timeout", which beats "env/prod/app/timeout", which
// beats "global/app/timeout".
//
// Keys are relative to their layer: ResolvePrefix("app/") merges the keys
// under "<layer>/app/" of every layer into one view, each key taken from
// the layer that wins it.
//
// # Reads and blocking
//
// A resolution reads every layer in one read transaction (store.View), so
// it sees one state of the store. Its index (Resolution.Index) is the
// largest modify index among the candidate keys of all layers, deletions
// included: it rises when any layer gains, changes or loses the key, and
// only then. Wait blocks until it passes a client's index, woken only by
// writes to the candidate keys (store.WaitKeys), which is what a Consul
// style blocking query on a resolved key needs.
//
// # Access
//
// A Query may carry Readable, the caller's read permission on store keys.
// A layer whose key the caller may not read is skipped as if it did not
// hold the key, and does not count in the index: a resolution never shows
// a value, nor the time of a change, that the caller may not read.
package layers
