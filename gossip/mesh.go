package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrShutdown reports an operation on a mesh that has shut down.
var ErrShutdown = errors.New("gossip: mesh shut down")

// ErrNotStarted reports an operation that needs gossip running (Join,
// Leave) on a mesh that has not started.
var ErrNotStarted = errors.New("gossip: mesh not started")

// ErrWrongKey is wrapped into join errors that are most likely caused by
// a gossip encryption key that differs from the peer's.
var ErrWrongKey = errors.New("gossip could not be decrypted: the encrypt key is probably wrong")

// Mesh is this node's membership in the mesh. Build it with New, set its
// Handlers, then Start it; it gossips until Shutdown.
type Mesh struct {
	cfg  Config
	log  *slog.Logger
	bq   *memberlist.TransmitLimitedQueue
	meta atomic.Pointer[[]byte] // the encoded metadata announced; see SetTag
	// metaMu serialises SetTag.
	metaMu sync.Mutex
	boot   string // this run's boot nonce (MetaBoot)

	// Built by New for Start.
	mc       *memberlist.Config
	where    string          // the configured bind address, for errors
	self     memberlist.Node // this node as Start will announce it
	handlers Handlers        // set before Start; see Handle
	started  bool            // Start ran; guarded by runMu
	// ml is memberlist once Start created it; nil before.
	ml atomic.Pointer[memberlist.Memberlist]

	events eventHub
	table  table
	rtt    rtts // smoothed probe round trips, by member
	// suspected are the members this node's probes suspect.
	suspected suspicions

	queries queries

	seedsMu sync.Mutex
	seeds   []string

	ctx      context.Context // ends at Shutdown
	stop     context.CancelFunc
	wg       sync.WaitGroup
	runMu    sync.Mutex // orders goIfRunning with Shutdown
	shutdown atomic.Bool
	pruned   atomic.Uint64 // broadcasts dropped from a full queue
	refused  atomic.Uint64 // alive messages and merges Handlers.Admit refused
	// undecryptable counts gossip that did not decrypt with the keyring.
	undecryptable atomic.Uint64
	leaving       atomic.Bool

	saveMu     sync.Mutex    // orders writes of the peers file
	peersSaved atomic.Bool   // the peers file was written by this run
	saveFirst  chan struct{} // a first peer arrived; see peerGained
}

// New builds a mesh on the configured address: it validates cfg and binds
// the gossip port (TCP and UDP) unless cfg.Transport is set, so that a bad
// setting or a port in use fails here. It does not gossip yet: set the
// application's Handlers, then call Start. Shutdown releases the port
// whether or not Start ran.
func New(cfg Config) (*Mesh, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	boot := newBoot()
	tags := cfg.meta()
	tags[MetaBoot] = boot
	meta, err := encodeMeta(tags)
	if err != nil {
		return nil, err
	}
	m := &Mesh{cfg: cfg, log: cfg.Logger.With("component", "gossip"), boot: boot,
		saveFirst: make(chan struct{}, 1)}
	m.meta.Store(&meta)
	m.table.self = cfg.NodeName
	m.seeds = slices.Clone(cfg.Seeds)

	mc, err := profile(cfg.Profile)
	if err != nil {
		return nil, err
	}
	mc.Name = cfg.NodeName
	mc.BindAddr, mc.BindPort = cfg.BindAddr, cfg.BindPort
	mc.AdvertiseAddr, mc.AdvertisePort = cfg.AdvertiseAddr, cfg.AdvertisePort
	if cfg.AdvertisePort == 0 {
		mc.AdvertisePort = cfg.BindPort
	}
	mc.Keyring = cfg.Keyring
	mc.DeadNodeReclaimTime = cfg.DeadNodeReclaim
	mc.RequireNodeNames = false
	d := &delegate{m: m}
	mc.Delegate, mc.Events, mc.Merge, mc.Alive, mc.Conflict = d, d, d, d, d
	mc.Ping = pingDelegate{m: m}
	m.suspected.longest = func() time.Duration { return longestSuspicion(mc, len(m.table.list())) }
	mc.Logger = newMemberlistLogger(m.log, m.shutdown.Load, &m.undecryptable, func(name string) { m.suspected.suspect(name, time.Now()) })
	m.bq = &memberlist.TransmitLimitedQueue{
		NumNodes:       m.NumAlive,
		RetransmitMult: cfg.BroadcastRetransmitMult,
	}
	if m.bq.RetransmitMult <= 0 {
		m.bq.RetransmitMult = 2 * mc.RetransmitMult
	}
	m.where = net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.BindPort))
	tr, own := cfg.Transport, (*memberlist.NetTransport)(nil)
	if tr == nil {
		if own, err = newNetTransport(mc, mc.Logger); err != nil {
			return nil, fmt.Errorf("gossip: start on %s: %w", m.where, err)
		}
		tr = own
	}
	// A transport with a packet limit (QUIC datagrams) sizes memberlist's
	// packets, which are otherwise sized for UDP.
	if p, ok := tr.(interface{ MaxPacketSize() int }); ok && p.MaxPacketSize() < mc.UDPBufferSize {
		mc.UDPBufferSize = p.MaxPacketSize()
	}
	m.ctx, m.stop = context.WithCancel(context.Background())
	mc.Transport = &stoppingTransport{NodeAwareTransport: tr, ctx: m.ctx}
	// The address memberlist will announce, asked of the transport as
	// memberlist asks it at Start, so that it fails here.
	ip, port, err := mc.Transport.FinalAdvertiseAddr(mc.AdvertiseAddr, mc.AdvertisePort)
	if err != nil {
		m.stop()
		if own != nil {
			closeIdle(own)
		}
		return nil, fmt.Errorf("gossip: start on %s: %w", m.where, err)
	}
	m.self = memberlist.Node{Name: cfg.NodeName, Addr: ip, Port: uint16(port), Meta: meta}
	m.mc = mc
	return m, nil
}

// Start starts gossiping: memberlist takes over the bound port and answers
// peers, and the mesh's maintenance (reaping, reconnecting, saving peers)
// runs until Shutdown. It joins no one: call Join or RetryJoin. Start runs
// once; it fails with ErrShutdown after Shutdown.
func (m *Mesh) Start() error {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	if m.shutdown.Load() {
		return ErrShutdown
	}
	if m.started {
		return errors.New("gossip: mesh already started")
	}
	m.started = true
	ml, err := memberlist.Create(m.mc)
	if err != nil {
		return fmt.Errorf("gossip: start on %s: %w", m.where, err)
	}
	m.ml.Store(ml)
	m.wg.Go(func() { m.maintain(m.ctx) })
	return nil
}

// tagAnnounceWait bounds how long SetTag waits for its news to be sent.
const tagAnnounceWait = time.Second

// SetTag sets one entry of this node's metadata (a user tag or a reserved
// one such as MetaFingerprint) and announces it: memberlist gossips this
// node alive again with the new metadata, which peers apply as an update.
// It fails with ErrNotStarted before Start, ErrShutdown after Shutdown,
// and ErrMetaTooLarge when the metadata would not fit; the metadata in
// effect is then unchanged. MetaID and MetaBoot cannot be set.
func (m *Mesh) SetTag(key, value string) error {
	if key == MetaID || key == MetaBoot {
		return fmt.Errorf("%w: tag %q is set by the mesh", ErrConfig, key)
	}
	m.metaMu.Lock()
	defer m.metaMu.Unlock()
	ml := m.ml.Load()
	switch {
	case m.shutdown.Load():
		return ErrShutdown
	case ml == nil:
		return ErrNotStarted
	}
	tags, err := decodeMeta(*m.meta.Load())
	if err != nil {
		return err
	}
	if tags[key] == value {
		return nil
	}
	tags[key] = value
	meta, err := encodeMeta(tags)
	if err != nil {
		return err
	}
	m.meta.Store(&meta)
	// The news is queued before UpdateNode waits; a timeout only means it
	// has not been sent yet.
	if err := ml.UpdateNode(tagAnnounceWait); err != nil {
		m.log.Debug("announcing new metadata", "key", key, "err", err)
	}
	return nil
}

// LocalMember returns this node as the mesh sees it; before Start, as
// Start will announce it (alive, on the address it will advertise).
func (m *Mesh) LocalMember() Member {
	// Not memberlist's LocalNode: UpdateNode rewrites that node under
	// memberlist's lock, which a reader of the pointer does not hold. The
	// address is the one memberlist announces (New asked the transport as
	// Start does), and the metadata is what the delegate hands it.
	n := m.self
	n.Meta = *m.meta.Load()
	mem := memberOf(&n, StatusAlive)
	if m.leaving.Load() {
		mem.Status = StatusLeaving
	}
	return mem
}

// Members returns every member this node knows of, itself included:
// alive, suspect, failed and left ones until they are reaped. Before
// Start it knows only itself.
func (m *Mesh) Members() []Member {
	ml := m.ml.Load()
	if ml == nil {
		return []Member{m.LocalMember()}
	}
	suspect := m.suspected.active(time.Now())
	out := m.table.list()
	for i := range out {
		if out[i].Name == m.cfg.NodeName {
			out[i] = m.LocalMember()
		} else if out[i].Status == StatusAlive && suspect[out[i].Name] {
			out[i].Status = StatusSuspect
		}
	}
	return out
}

// Member returns the member named name as this node last heard of it, in
// any status, without copying the whole table as Members does.
func (m *Mesh) Member(name string) (Member, bool) {
	if name == m.cfg.NodeName {
		return m.LocalMember(), true
	}
	return m.table.get(name)
}

// Refused returns how many alive messages and merges Handlers.Admit
// refused.
func (m *Mesh) Refused() uint64 { return m.refused.Load() }

// Undecryptable returns how many packets and exchanges did not decrypt
// with the keyring: sent with another key, or forged.
func (m *Mesh) Undecryptable() uint64 { return m.undecryptable.Load() }

// NumAlive returns how many members, this node included, are alive or
// suspect: 1 before Start.
func (m *Mesh) NumAlive() int {
	if ml := m.ml.Load(); ml != nil {
		return ml.NumMembers()
	}
	return 1
}

// Subscribe returns a subscription to membership events with a queue of
// size events (see Subscription).
func (m *Mesh) Subscribe(size int) *Subscription { return m.events.subscribe(size) }

// Join contacts the given addresses (host or host:port) and merges their
// view of the mesh. It returns how many answered; an error only when none
// did: one wrapping ErrBadAddress when every address is malformed or names
// a host that does not exist, else one wrapping ErrWrongKey or
// ErrNoAnswer. Before Start it fails with ErrNotStarted.
func (m *Mesh) Join(addrs []string) (int, error) {
	if m.shutdown.Load() {
		return 0, ErrShutdown
	}
	ml := m.ml.Load()
	if ml == nil {
		return 0, ErrNotStarted
	}
	var (
		good []string
		bad  []error
	)
	for _, a := range addrs {
		if err := checkJoinAddr(a); err != nil {
			bad = append(bad, err)
			continue
		}
		good = append(good, a)
	}
	if len(good) == 0 {
		if len(bad) == 0 {
			return 0, fmt.Errorf("%w: no address given", ErrBadAddress)
		}
		// Every address is bad, or some name servers did not answer.
		for _, err := range bad {
			if errors.Is(err, ErrNoAnswer) {
				return 0, fmt.Errorf("%w: %v", ErrNoAnswer, errors.Join(bad...))
			}
		}
		return 0, errors.Join(bad...)
	}
	n, err := ml.Join(good)
	if n > 0 {
		m.savePeersFirst()
		return n, nil
	}
	if err == nil {
		err = errors.New("no address answered")
	}
	if len(bad) > 0 {
		err = fmt.Errorf("%v; %v", err, errors.Join(bad...))
	}
	if m.cfg.Keyring != nil && looksLikeKeyMismatch(err) {
		err = fmt.Errorf("%w (%v)", ErrWrongKey, err)
		m.log.Error("join failed: gossip could not be decrypted; the encrypt key is probably wrong", "seeds", addrs, "err", err)
		return 0, err
	}
	return 0, fmt.Errorf("%w: %v", ErrNoAnswer, err)
}

// looksLikeKeyMismatch reports join errors that an encrypted node gets from
// a peer using another key: the peer cannot decrypt the push-pull and
// hangs up, or answers with what this node cannot decrypt.
func looksLikeKeyMismatch(err error) bool {
	s := err.Error()
	return strings.Contains(s, "decrypt") || strings.Contains(s, "EOF") ||
		strings.Contains(s, "connection reset") || strings.Contains(s, "Reading remote state")
}

// Leave tells the mesh this node is leaving, so others mark it left rather
// than failed, and waits up to timeout for the message to spread. When no
// other member stays (all are leaving, left or failed, as when the last
// nodes of a mesh stop together) nobody is left to hear it: Leave waits
// at most unheardLeaveWait and does not report the missing confirmation
// as an error. Call Shutdown afterwards. Before Start it fails with
// ErrNotStarted.
func (m *Mesh) Leave(timeout time.Duration) error {
	if m.shutdown.Load() {
		return ErrShutdown
	}
	ml := m.ml.Load()
	if ml == nil {
		return ErrNotStarted
	}
	m.leaving.Store(true)
	// Announce the intent first, as Serf does: memberlist's own leave
	// message does not tell "left" from "failed" to the receivers. The
	// intent goes to every member directly over TCP and by gossip, so
	// that it reaches everyone before memberlist's dead message does.
	// The sends belong to the mesh, not to Leave: one still dialling when
	// Leave stops waiting for it ends at Shutdown, which waits for it.
	msg := encodeControl(msgLeave, leaveMsg{Node: m.cfg.NodeName, Boot: m.boot})
	m.bq.QueueBroadcast(simpleBroadcast(msg))
	peers := m.peerNodes()
	sent := make(chan struct{}, len(peers))
	sending := 0
	for _, n := range peers {
		if m.goIfRunning(func() {
			_ = ml.SendReliable(n, msg) // best effort: gossip carries it too
			sent <- struct{}{}
		}) {
			sending++
		}
	}
	t := time.NewTimer(timeout / 2)
sends:
	for range sending {
		select {
		case <-sent:
		case <-t.C:
			m.log.Warn("leave intent not delivered to every member before timeout; leaving anyway")
			break sends
		}
	}
	t.Stop()
	wait := timeout
	if !m.anyStaying() {
		wait = min(timeout, unheardLeaveWait)
	}
	if err := ml.Leave(wait); err != nil {
		if !m.anyStaying() {
			m.log.Debug("leave not confirmed by gossip; no member stays to hear it", "err", err)
			return nil
		}
		return fmt.Errorf("gossip: leave: %w", err)
	}
	return nil
}

// unheardLeaveWait bounds the wait for the leave broadcast when no other
// member stays in the mesh.
const unheardLeaveWait = 500 * time.Millisecond

// anyStaying reports whether another member is alive and not leaving.
func (m *Mesh) anyStaying() bool {
	return len(m.table.withStatus(StatusAlive)) > 0
}

// ForceLeave marks a failed member as left on every node, so that it is
// no longer retried and is reaped sooner. A member that is alive is not
// touched: it would refute the claim at once.
func (m *Mesh) ForceLeave(name string) error {
	mem, ok := m.table.get(name)
	if !ok {
		return fmt.Errorf("gossip: force-leave: no member named %q", name)
	}
	if mem.Status != StatusFailed && mem.Status != StatusLeft {
		return fmt.Errorf("gossip: force-leave: %s is %s, not failed", name, mem.Status)
	}
	m.leaveIntent(leaveMsg{Node: name, Boot: mem.Tags[MetaBoot]})
	return nil
}

// leaveIntent applies a leave announced by a node or forced on it. The
// first time it changes something, it passes the message on: memberlist
// does not forward user broadcasts, so each receiver spreads it further.
// An intent that names another run of the node than the one in the table
// (it still circulates after the node restarted) is ignored.
func (m *Mesh) leaveIntent(msg leaveMsg) {
	mem, changed := m.table.intendLeave(msg.Node, msg.Boot)
	if !changed {
		return
	}
	_ = m.broadcastControl(msgLeave, msg)
	m.log.Info("member "+mem.Status.String(), "node", msg.Node)
	if mem.Status == StatusLeft {
		m.events.publish(Event{Type: EventLeave, Member: mem})
	}
}

// SetSeeds replaces the seeds the reconnect loop rejoins through.
func (m *Mesh) SetSeeds(seeds []string) {
	m.seedsMu.Lock()
	m.seeds = slices.Clone(seeds)
	m.seedsMu.Unlock()
}

func (m *Mesh) currentSeeds() []string {
	m.seedsMu.Lock()
	defer m.seedsMu.Unlock()
	return slices.Clone(m.seeds)
}

// Shutdown stops gossiping without leaving (others will see this node
// fail), saves the peers file, ends every subscription and releases the
// port, whether or not Start ran. It is safe to call more than once.
func (m *Mesh) Shutdown() error {
	m.runMu.Lock()
	already := m.shutdown.Swap(true)
	m.runMu.Unlock()
	if already {
		return nil
	}
	m.stop()
	m.wg.Wait()
	m.savePeers(true)
	var err error
	if ml := m.ml.Load(); ml != nil {
		err = ml.Shutdown()
	} else {
		err = closeIdle(m.mc.Transport)
	}
	m.events.closeAll()
	m.queries.closeAll()
	return err
}

// maintain reaps, reconnects and saves peers on timers until ctx ends.
// The reconnect timer is re-armed after each try with reconnectDelay.
func (m *Mesh) maintain(ctx context.Context) {
	reconnect := time.NewTimer(min(reconnectFloor, m.cfg.ReconnectInterval))
	defer reconnect.Stop()
	save := time.NewTicker(m.cfg.PeersSaveInterval)
	defer save.Stop()
	var seedsTried time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-reconnect.C:
			m.reap()
			now := time.Now()
			// The seeds are joined at most once per ReconnectInterval: a
			// live seed answers with a full state exchange.
			withSeeds := now.Sub(seedsTried) >= m.cfg.ReconnectInterval
			if m.reconnect(withSeeds) && withSeeds {
				seedsTried = now
			}
			reconnect.Reset(reconnectDelay(m.table.withStatus(StatusFailed), time.Now(), m.cfg.ReconnectInterval, rand.Float64()))
		case <-save.C:
			m.savePeers(false)
		case <-m.saveFirst:
			m.savePeersFirst()
		}
	}
}

func (m *Mesh) reap() {
	for _, mem := range m.table.reap(time.Now(), m.cfg.ReconnectTimeout, m.cfg.LeftTimeout) {
		m.log.Info("member reaped", "node", mem.Name, "status", mem.Status.String())
		m.events.publish(Event{Type: EventReap, Member: mem})
	}
}

// Reconnect pacing. Serf retries one failed member every 30 s, so a
// healed link can wait that long, twice over when the try picks a member
// still unreachable. Here the pause follows the age of the youngest
// failure: a ninetieth of it, at least reconnectFloor and at most
// ReconnectInterval. A cut of a minute is retried every second (it heals
// about a second after the link returns), one of ten minutes every 7 s,
// and a member gone for good costs one try per ReconnectInterval from
// about 45 minutes on, as with Serf. With no member failed the loop
// looks every reconnectFloor (a table scan, no packet), so the first try
// follows a failure closely. Each pause is shortened by a random
// fraction of up to a quarter, so the nodes of a site do not try in step.
const (
	reconnectFloor   = time.Second
	reconnectAgeDiv  = 90
	reconnectRecency = time.Minute
)

// reconnectDelay returns the pause before the next reconnect try, given
// the failed members, the time now, the longest pause and a random r in
// [0, 1).
func reconnectDelay(failed []Member, now time.Time, longest time.Duration, r float64) time.Duration {
	var age time.Duration // none failed: look again soon, for free
	if youngest, ok := youngestFailure(failed); ok {
		age = now.Sub(youngest)
	}
	d := min(max(age/reconnectAgeDiv, reconnectFloor), longest)
	return d - time.Duration(r*float64(d)/4)
}

func youngestFailure(failed []Member) (time.Time, bool) {
	var youngest time.Time
	for _, f := range failed {
		if f.Since.After(youngest) {
			youngest = f.Since
		}
	}
	return youngest, !youngest.IsZero()
}

// reconnectTarget picks the member to try: half the time one of those
// that failed within reconnectRecency of the youngest failure (the other
// side of a fresh partition), otherwise any failed member, so that a
// member gone for days does not take the tries a fresh cut needs, and is
// still tried.
func reconnectTarget(failed []Member, intn func(int) int) Member {
	youngest, _ := youngestFailure(failed)
	recent := failed
	if intn(2) == 0 {
		recent = slices.DeleteFunc(slices.Clone(failed), func(f Member) bool {
			return youngest.Sub(f.Since) > reconnectRecency
		})
	}
	return recent[intn(len(recent))]
}

// reconnect tries one failed member (reconnectTarget), so that two halves
// of a partition that have both forgotten each other in memberlist find
// each other again; withSeeds, it also rejoins through the seeds. It
// reports whether it tried at all (some member had failed).
func (m *Mesh) reconnect(withSeeds bool) bool {
	failed := m.table.withStatus(StatusFailed)
	if len(failed) == 0 {
		return false
	}
	target := reconnectTarget(failed, rand.IntN)
	addrs := []string{target.Address()}
	if withSeeds {
		addrs = append(addrs, m.currentSeeds()...)
	}
	if n, err := m.ml.Load().Join(addrs); n == 0 {
		m.log.Debug("reconnect failed", "node", target.Name, "addr", target.Address(), "err", err)
	} else {
		m.log.Debug("reconnected", "via", addrs, "answered", n)
	}
	return true
}

// peerNodes returns the members other than this node that have not
// failed or left, as nodes to send to directly. They are built from the
// member table, not taken from memberlist's Members: the nodes that
// returns point into memberlist's state, which it rewrites in place, under
// its own lock, whenever an alive message arrives, so reading them here
// would race with it. The table has peers only once Start ran.
func (m *Mesh) peerNodes() []*memberlist.Node {
	var out []*memberlist.Node
	for _, mem := range m.table.list() {
		if mem.Name != m.cfg.NodeName && (mem.Status == StatusAlive || mem.Status == StatusSuspect || mem.Status == StatusLeaving) {
			out = append(out, &memberlist.Node{Name: mem.Name, Addr: mem.Addr, Port: mem.Port})
		}
	}
	return out
}

func memberOf(n *memberlist.Node, st Status) Member {
	tags, err := decodeMeta(n.Meta)
	if err != nil {
		tags = map[string]string{}
	}
	return Member{
		Name: n.Name, ID: tags[MetaID], Addr: append(net.IP(nil), n.Addr...), Port: n.Port,
		Site: tags[MetaSite], Tags: tags, Status: st, Since: time.Now(),
	}
}
