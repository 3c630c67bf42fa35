package catalog

import (
	"context"
	"math/rand/v2"
	"reflect"
	"time"
)

// The runners: one goroutine per check the agent runs (HTTP, TCP,
// script), owned by the Catalog. Start starts them, Register starts,
// restarts (a changed definition) or stops (a check removed) them, as do
// Deregister and the reaper; Close stops them all and waits for them. A
// runner's first run comes at a random phase within its interval, as
// Consul's, so that checks registered together do not run together; then
// one run every Interval after the end of the previous, each bounded by
// its Timeout, all on the Catalog's Clock. A run's result passes the
// damping of SuccessBeforePassing and FailuresBefore*, then the write
// path of a TTL update (setStatus): a new status is written at once, a
// new output at most every CheckUpdateInterval.

// runner is a running check.
type runner struct {
	def    ActiveCheck
	cancel context.CancelFunc
}

// syncRunners makes the runners agree with the checks: one per check the
// agent runs, with its current definition. It does nothing before Start
// and after Close. The caller holds wmu.
func (c *Catalog) syncRunners() {
	if c.runCtx == nil || c.closed {
		return
	}
	for id, r := range c.runners {
		if cs := c.checks[id]; cs == nil || cs.active == nil || !reflect.DeepEqual(r.def, *cs.active) || !c.mayRun(cs.active) {
			r.cancel()
			delete(c.runners, id)
		}
	}
	for id, cs := range c.checks {
		if cs.active == nil || c.runners[id] != nil || !c.mayRun(cs.active) {
			continue
		}
		ctx, cancel := context.WithCancel(c.runCtx)
		r := &runner{def: *cs.active, cancel: cancel}
		c.runners[id] = r
		c.runWG.Add(1)
		go func() {
			defer c.runWG.Done()
			c.runCheck(ctx, id, r)
		}()
	}
}

// mayRun reports whether this agent runs a check of the definition: a
// script check only with Config.EnableLocalScriptChecks.
func (c *Catalog) mayRun(a *ActiveCheck) bool {
	return a.Type != CheckTypeScript || c.cfg.EnableLocalScriptChecks
}

// runCheck runs the check id every interval until ctx ends.
func (c *Catalog) runCheck(ctx context.Context, id string, r *runner) {
	p := newProbe(&r.def)
	defer p.close()
	d := newDamper(&r.def)
	first := true
	due := c.clock.Now().Add(rand.N(r.def.Interval))
	for {
		fire, stop := c.clock.At(due)
		if c.armed != nil {
			c.armed(id)
		}
		select {
		case <-ctx.Done():
			stop()
			return
		case <-fire:
		}
		stop()
		status, output := c.runOnce(ctx, p, r.def.Timeout)
		if ctx.Err() != nil {
			return
		}
		if status, ok := d.update(status); ok {
			c.report(id, r, status, output, first)
			first = false
		}
		due = c.clock.Now().Add(r.def.Interval)
	}
}

// runOnce runs the probe once, its context ending after timeout on the
// Catalog's clock.
func (c *Catalog) runOnce(ctx context.Context, p probe, timeout time.Duration) (string, string) {
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fire, stop := c.clock.At(c.clock.Now().Add(timeout))
	defer stop()
	finished, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-fire:
			cancel(&timeoutError{timeout})
		case <-finished:
		}
	}()
	status, output := p.run(rctx)
	close(finished)
	<-watched
	return status, output
}

// report writes a run's result, unless the runner was stopped meanwhile.
// The first result of a runner is written at once, status changed or not,
// so that a check just registered or restarted shows its output.
func (c *Catalog) report(id string, r *runner, status, output string, first bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	cs := c.checks[id]
	if c.closed || c.runners[id] != r || cs == nil {
		return
	}
	if err := c.setStatus(cs, status, output, first); err != nil {
		c.log.Error("writing a check's result", "check", id, "err", err)
	}
}

// damper damps a check's flapping as Consul's StatusHandler does: a
// success (passing or warning) changes the status once
// SuccessBeforePassing of them came in a row, a failure once
// FailuresBeforeWarning (to warning) or FailuresBeforeCritical (to
// critical) did. The counters start at their thresholds, so that the
// first result after the check starts counts at once.
type damper struct {
	successBefore, failWarn, failCrit int
	successes, failures               int
}

func newDamper(a *ActiveCheck) *damper {
	d := &damper{successBefore: a.SuccessBeforePassing, failWarn: a.FailuresBeforeWarning, failCrit: a.FailuresBeforeCritical}
	if d.failWarn == 0 {
		d.failWarn = d.failCrit
	}
	d.successes, d.failures = d.successBefore, d.failCrit
	return d
}

// update takes a run's status and returns the status to report, or false
// for none yet.
func (d *damper) update(status string) (string, bool) {
	if status == StatusPassing || status == StatusWarning {
		d.successes, d.failures = min(d.successes+1, maxDamping+1), 0
		return status, d.successes >= d.successBefore
	}
	d.failures, d.successes = min(d.failures+1, maxDamping+1), 0
	switch {
	case d.failures >= d.failCrit:
		return StatusCritical, true
	case d.failures >= d.failWarn:
		return StatusWarning, true
	}
	return "", false
}
