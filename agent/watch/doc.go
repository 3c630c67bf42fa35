// Package watch runs exec watches: Consul's watches (the watches block of
// the agent's configuration), so that handlers written for Consul run
// unchanged. A watch names a view of the node's data, and a handler
// program that is given the whole view each time it changes.
//
// # Types
//
// Each type reads what a Consul watch of that type reads from its agent,
// through the agent's own HTTP API (Source; in the agent, HandlerSource
// over the API's handler, in process), so the handler's stdin is
// byte-for-byte the JSON that API answers for the same query:
//
//   - key (key): the entry of GET /v1/kv/<key>, as one object (Key,
//     CreateIndex, ModifyIndex, LockIndex, Flags, Value in base64), or
//     null while the key is missing, as Consul's handler gets.
//   - keyprefix (prefix): the array of GET /v1/kv/<prefix>?recurse, or
//     null when nothing is under the prefix.
//   - services: the map of GET /v1/catalog/services, service name to
//     tags.
//   - service (service, tag, passingonly): the array of GET
//     /v1/health/service/<service>, each entry a node, a service and its
//     checks; tag keeps the instances with all the tags given,
//     passingonly those whose checks all pass.
//   - checks (service or state): the checks of GET
//     /v1/health/checks/<service>, or of GET /v1/health/state/<state>
//     (any, passing, warning, critical; any when neither is given).
//
// The reads carry the watch's token (Consul's token field), under the
// same ACL rules as any local client; without one the anonymous token's
// rules apply. Like any blocking query of the API, each watch holds one
// of http_max_blocking_queries while it waits.
//
// # Runs
//
// A watch reads at once when the Manager starts and runs its handler
// with that first result: one call at start, with whatever the store
// holds (Consul's behaviour; Config.Ready can hold the first read back,
// for instance until the node has synced). Then it blocks on the view's
// index (X-Consul-Index), and hands over each new result:
//
//   - never two runs of one handler at once: results that arrive while
//     the handler runs wait, and only the newest of them is handed over
//     when the run ends, so a burst of changes during a run gives one
//     more run, with the latest data;
//   - a result whose JSON equals the one last handed over runs nothing
//     (an index that moved for a change outside the view, or a write
//     that changed nothing), as Consul compares a result with its last;
//   - with wait (min, max), a change after the first run is handed over
//     once there has been no other for min, and never later than max
//     (default 4×min) after it began to wait: consul-template's wait,
//     which render blocks use too;
//   - a failed run is logged with its output and not retried: the next
//     change runs the handler again, as in Consul.
//
// A handler is an argument list (args), run without a shell; a shell
// runs only when the definition gives a command line in handler instead
// (Consul's older form). Its stdin is the result's JSON, one line ending
// in a newline as Consul's encoder writes it; its environment is the
// agent's without NOTIFY_SOCKET, plus CONSUL_INDEX and EDGEPLANE_INDEX,
// the result's index. It runs in a process group of its own, killed
// after timeout (default 30 s; Consul has none, and a hung handler would
// hold its watch for ever); its last 4 KiB of output are logged (package
// command).
//
// # Reload
//
// Set replaces the watches: an unchanged definition keeps running and is
// not run again (Consul restarts every watch on reload, which would
// re-run every handler, restarting what they restart), a removed one
// stops, its run in progress killed, and a new one starts with its call
// at start. Close stops every watch and kills runs in progress.
//
// A failed read (the API refused the token, the view is too large) is
// logged and retried after 1 s × failures², at most a minute.
package watch
