// Package faultnet injects network faults under a packet protocol. Its
// PacketConn wraps a net.PacketConn and, on every datagram it sends,
// decides with a seeded random generator whether to drop it, delay it, or
// hold it back so later datagrams overtake it (reordering). It can also
// cut the link entirely (a partition) and heal it again.
//
// It is meant for tests of protocols built on quic-go, such as edgeplane's
// RPC transport:
//
//	raw, _ := net.ListenPacket("udp", "127.0.0.1:0")
//	pc := faultnet.Wrap(raw, faultnet.Config{Seed: 1, Loss: 0.05})
//	tr := &quic.Transport{Conn: pc}
//
// Faults apply to datagrams sent through the wrapper; wrap both ends to
// impair both directions. With the same seed and the same sequence of
// sends, the same datagrams are dropped. Delivery of delayed datagrams
// uses timers, so their interleaving with other traffic is not
// deterministic. Close stops every pending timer.
package faultnet
