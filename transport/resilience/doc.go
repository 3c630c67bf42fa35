// Package resilience holds the pure parts of edgeplane's call policy: the
// backoff between retries, the per-peer circuit breaker, the balancers that
// pick one peer among candidates, and the Policy struct that operators write
// in config. Nothing here does I/O: time arrives as a value or through a
// Clock, randomness through a seeded *rand.Rand, so every behaviour is
// table-tested with a fake clock and a fixed seed.
//
// # Retry and backoff
//
// Retry.Attempts counts every attempt, the first included (1 means never
// retry). Before retry n (n ≥ 1) the caller waits Retry.Backoff(n, u):
// the exponential step base·2^(n-1), capped at BackoffCap, with equal
// jitter: half of the step is fixed and the other half is scaled by u, a
// uniform draw in [0, 1). The fixed half keeps retries spaced; the random
// half keeps many callers from retrying in lockstep. Which failures may be
// retried at all is decided by the transport (see package transport).
//
// # Circuit breaker
//
// A Breaker guards one peer:
//
//	closed ──FailureThreshold consecutive failures──▶ open
//	open ──CoolDown elapsed──▶ half-open (one probe call allowed)
//	half-open ──probe succeeds──▶ closed
//	half-open ──probe fails──▶ open (the cool-down starts again)
//
// While open the breaker rejects calls at once, so a dead peer costs the
// caller nothing until the cool-down ends. Outcomes reported while open are
// ignored; an Ignored outcome (the caller gave up, the peer is not at fault)
// never moves the breaker but frees the half-open probe slot.
//
// # Balancers
//
// A Balancer picks one Candidate by index: round_robin cycles; random draws
// uniformly; weighted draws in proportion to Candidate.Weight;
// least_outstanding takes the candidate with the fewest calls in flight
// (ties broken at random); power_of_two draws two distinct candidates and
// takes the less loaded. Balancers are not safe for concurrent use: their
// owner serializes Pick.
package resilience
