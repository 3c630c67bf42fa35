// Package api is the typed client of an edgeplane agent's local HTTP API,
// and the one home of the request and response types that the server
// (agent/httpapi), the command line (agent/cli) and tests share.
//
// # Using it
//
// A Client talks to one agent, by default the one on 127.0.0.1:8500:
//
//	c, err := api.NewClient(api.Config{Address: "127.0.0.1:8500"})
//	err = c.KV().Put(ctx, api.KVPair{Key: "app/timeout", Value: []byte("3s")})
//	pair, err := c.KV().Get(ctx, "app/timeout") // nil, nil when missing
//
// Every call takes a context, which bounds it (the Client sets no timeout
// of its own). The KV calls cover reads, writes, check-and-set and
// deletes; the agent calls cover members, join, leave, force-leave, the
// gossip keyring, join tokens, snapshots, reload, replication state, the
// agent's own description and RPC pings; the service calls register and
// deregister services with TTL, HTTP and TCP checks (ServiceRegister,
// ServiceRegisterJSON for a body in Consul's JSON), list them with their
// checks and the checks' definitions, and report TTL checks (CheckPass,
// CheckWarn, CheckFail); the discovery calls list the catalog's services
// (CatalogServices) and a service's instances across the mesh with their
// health (HealthService), narrowed by a ServiceQuery: tags, node meta,
// site, passing only.
//
// # Errors
//
// An answer other than 2xx is a *StatusError carrying the status code and
// the agent's message. An agent that cannot be reached at all (nothing
// listening, connection refused or reset before an answer) gives an error
// for which errors.Is(err, ErrUnreachable) holds. Anything else (a body
// that does not decode, a context that ended) is returned as is.
//
// # Watching
//
// KV.Watch ranges over blocking queries on a prefix: each answer yields
// every pair under the prefix and the index it was read at, as soon as
// something under the prefix changes. A failed request is yielded as a
// *RetryError and retried after a backoff with jitter (the transport's
// resilience.Retry), starting from a fresh read; a request the agent
// refuses (a 4xx other than 429) is yielded as is and ends the watch. The
// watch ends when its context does or the loop breaks.
// HealthServiceWatch does the same for a service's instances: each answer
// is a HealthList, every instance matching the ServiceQuery and the index
// it was read at, as soon as one of them, its checks or its node changes.
//
//	for list, err := range c.KV().Watch(ctx, "app/", api.WatchOptions{}) {
//		if err != nil {
//			var retry *api.RetryError
//			if !errors.As(err, &retry) {
//				return err
//			}
//			continue // retried after retry.Delay
//		}
//		use(list.Pairs)
//	}
package api
