// Package gossip is edgeplane's mesh membership: SWIM gossip over
// hashicorp/memberlist, plus what memberlist leaves to its user: node
// identity, a member table that outlives memberlist's short memory of dead
// nodes, reconnection after long partitions, events, leave intents and
// mesh-wide keyring rotation. It never imports the agent; the agent plugs
// in through Config (identity, metadata, timings) and Handlers (push-pull
// state, messages).
//
// # Model
//
// A Mesh is this node's view. Building it and running it are two steps,
// so that its user can be built with the mesh in hand and still hear
// everything it gossips:
//
//   - New validates the Config and binds the gossip port (TCP and UDP),
//     so a bad setting or a port in use fails there. Nothing gossips yet:
//     the mesh knows only itself (Members, LocalMember, on the address it
//     will announce), Broadcast queues, Subscribe subscribes, and Join and
//     Leave fail with ErrNotStarted.
//   - Handle sets the application's Handlers. Call it before Start; Start
//     orders it before every call of a handler.
//   - Start hands the port to memberlist, which answers peers from then
//     on, and starts the mesh's maintenance (reaping, reconnecting,
//     saving peers). It joins no one.
//   - Shutdown stops it all and releases the port, started or not.
//
// Join contacts seeds once, RetryJoin keeps trying in the background with
// exponential backoff and jitter (resilience.Retry, paced on
// Config.Clock) until a seed answers or the attempts run out, so an agent
// serves its local API at once, alone if need be.
//
// RTT returns the smoothed round trip of memberlist's probes from this
// node to a member (an exponentially weighted moving average fed by
// memberlist's PingDelegate), for ordering by distance.
//
// Each member has a Status: alive, suspect (a probe of this node went
// unanswered and memberlist suspects it; see suspicions), leaving, left
// (it said goodbye) or failed (it stopped answering). The
// numbers of alive, leaving, left and failed are Serf's, which Consul's
// API reports.
//
// # Identity
//
// A node is its name and its id (a UUID the agent keeps in its data dir),
// both carried in the node's metadata with the site, the RPC address, the
// build version and user tags. The metadata must fit memberlist's 512
// bytes: a larger tag set fails New, it is never truncated. SetTag
// changes one entry while the node runs (a reloaded certificate's
// fingerprint) and gossips the node alive again with it. A join that
// would bring a second live node with the same name or the same id into
// the mesh is refused by the merge delegate on both sides, with an error
// that names both nodes (ErrDuplicateNode). A node that restarts with its
// name and id on a new address or port is accepted once memberlist has
// seen the old address dead for DeadNodeReclaim.
//
// # Leaving and failing
//
// memberlist's own leave message does not tell receivers whether a node
// left or failed, so Leave first spreads a leave intent (as Serf does);
// receivers mark the node leaving, and left once memberlist drops it.
// ForceLeave spreads the same intent for a failed node. Receivers pass an
// intent on the first time they see it, because memberlist does not
// forward user broadcasts. An intent names the run of the node that
// leaves by its boot nonce (MetaBoot, drawn at each start), so one that
// still circulates after the node restarted does not mark the new run
// leaving. When no other member stays (the last nodes stop together),
// Leave does not wait for a confirmation nobody can give.
//
// # The member table and healing
//
// memberlist forgets a dead node after GossipToTheDeadTime (tens of
// seconds), after which two halves of a long partition would never look
// for each other again. The member table keeps failed members until
// ReconnectTimeout (72 h by default) and left ones until LeftTimeout, and
// the mesh keeps trying to join one failed member, as Serf's reconnect
// loop does, but paced by the age of the youngest failure (from every
// second after a fresh cut to ReconnectInterval for a member gone for
// good) rather than every ReconnectInterval, so a healed link is used
// within seconds. The configured seeds are joined at most once per
// ReconnectInterval. Live peers are saved to PeersFile as soon as the
// node has its first peer, then at most once per PeersSaveInterval and at
// shutdown, so that a restarted agent with no seeds rejoins through them
// (LoadPeers).
//
// # Events
//
// Subscribe returns a bounded queue of join, leave, failed, update and
// reap events. Publishing never blocks gossip: a consumer that falls
// behind loses the queued events, the loss is counted, and its next read
// says to resync from Members.
//
// # Encryption and keys
//
// With a Keyring, gossip is encrypted (AES-GCM, memberlist's). KeyringOp
// installs, uses, removes or lists keys on every live member: the request
// goes to each member over memberlist's reliable channel, each applies it
// to its keyring, saves it to KeyringFile and answers; the caller gets one
// reply per node. The key in use cannot be removed. A node with a wrong key
// cannot join; its Join error wraps ErrWrongKey, and the side that cannot
// decrypt logs that the key is probably wrong.
//
// # Profiles
//
// ProfileLAN (the default) is memberlist's LAN tuning with a suspicion
// multiplier of 3 and 100 ms gossip, for small site LANs; ProfileWAN its WAN
// tuning; ProfileEdge is the WAN tuning with 1,200-byte UDP packets and
// more patience for lossy, high-latency links; ProfileLocal is for tests.
// The README lists measured detection times per profile
// (scripts/bench-membership.sh).
//
// # Testing
//
// Package faultnet wraps memberlist's transport to drop, delay and
// partition traffic between named groups inside one process.
package gossip
