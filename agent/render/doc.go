// Package render writes files from the replicated store: the config
// manager on the device side. A render block (Spec) names a Go
// text/template and a destination; the template reads the local store
// with consul-template's functions, so a value changed anywhere in the
// fleet reaches the files of nginx, mosquitto or a PLC gateway on every
// node, and a node cut off from the mesh still renders from what it
// holds.
//
// # Functions
//
// key, keyOrDefault, keyExists, ls, tree, service, services, nodes, env
// and parseJSON, toJSON keep consul-template's names and meanings:
//
//   - key "k" reads a KV key; while it is missing the block is held: the
//     destination keeps its file and the status names the key waited
//     for (warning). keyOrDefault "k" "d" and keyExists "k" never hold.
//   - ls "p" lists the keys right under "p/", tree "p" every key under
//     it, each a KeyPair whose Key is relative to the prefix.
//   - service "[tag.]name[@dc][~near][|filter]" lists the instances of a
//     service, passing ones only unless the filter says "any" or lists
//     statuses ("passing,warning"), sorted by node then ID; an
//     instance's health is its checks', its node's checks' and its
//     node's membership. services lists every service with its tags,
//     nodes every member of the mesh that has not left (Config.Members).
//   - Their entries are consul-template v0.41's, fields in its order, so
//     that a template of these functions renders the same bytes under
//     both against the same agent (scripts/lab/consul-compat.sh shows
//     it): HealthService with the node's ID, address, meta and tagged
//     addresses, sorted Tags, and Checks as the HTTP API lists them
//     (serfHealth first); KeyPair with LockIndex and Session (always
//     empty); keyOrDefault serves the default for an empty value too,
//     ls "" lists nothing, and a missing map key is the zero value. Not
//     the same: toJSON of a service entry (consul-template's Checks carry
//     Consul's Definition, ExposedPort and indexes), and the order of
//     "~near" (accepted and ignored here).
//
// and the config centre's:
//
//   - resolve "k" looks k up through the layers (package layers), the
//     most specific first; a key no layer holds holds the block as key
//     does.
//   - nodeName, site and nodeTags are this node's.
//
// Every value is served through its schema (package schema): a value
// that breaks its schema is not rendered, its last good value is, and
// the block's status turns warning, naming the key and the rule.
//
// # What triggers a render
//
// Each render records what it read (Deps): KV keys and prefixes, the
// services and the instances it saw. The Manager follows the store's
// change feed and renders a block again only when a change touches what
// its last render read: a write to an unrelated key, or to another
// service, costs a comparison and no render. Changes are paced by wait,
// as consul-template's: a block renders once there has been no change
// for wait.min, and never later than wait.max after the first change.
//
// # Applying a render
//
// A render is made in memory, in one read transaction. Then, in order:
//
//  1. If its bytes equal the destination's, nothing is written and
//     nothing reloaded (SD cards wear; reloads drop connections).
//  2. It is written to a temporary file in the destination's directory,
//     fsynced, given its mode and owner. A destination that is a symbolic
//     link is written beside the link's target; the link stays.
//  3. check_mode candidate (default): check runs with {{.Candidate}}
//     naming the temporary file; on failure the destination is left
//     byte for byte as it was. Then the file is renamed over the
//     destination and the directory fsynced, so a crash leaves the old
//     or the new file, whole.
//  4. check_mode swapped, for files only their whole tree validates
//     (nginx -t on a conf.d file): the file is renamed into place
//     first, check runs, and on failure the previous file is put back
//     at once (or the new one removed, when there was none).
//  5. After a random delay up to splay, reload runs. If it fails or
//     times out, the previous file is put back, reload runs again, and
//     the block reports "rolled back".
//
// check and reload are argument lists, run without a shell (name one,
// ["sh", "-c", "..."], to have one), in a process group of their own
// that is killed whole at command_timeout, without NOTIFY_SOCKET in
// their environment (package command runs them, as it runs watch
// handlers and script checks); the last 4 KiB of their output are kept
// in the status.
//
// # Status and health
//
// Each block has a Status: health, last render, checksum, last error and
// its stage, what it waits for, last rollback. Health is passing once
// applied, warning while waiting for a key or the first sync or serving
// a last good value, critical after a failed render, check, write or
// reload; the agent makes it the check edgeplane:render:<name> of its
// own edgeplane service, and counts failures by block and stage.
//
// # Reloading
//
// Manager.Set applies reloaded blocks: a block whose spec and template
// text are unchanged goes on, untouched; a changed one stops (a render
// in progress ends, its commands killed) and starts again, rendering at
// once; a new one starts; a removed one stops, and the agent removes its
// check.
//
// # Before the first sync
//
// A node that never completed a sync or bootstrap holds an empty or
// partial replica: its blocks wait ("waiting for first sync") and leave
// their destinations untouched, unless render_before_sync. A node that
// synced once renders from its store at start, with or without network.
package render
