package devicelock

import (
	"context"
	"sync"
)

// gathering is how the members of a turn share steps: Together runs a step
// once for all the members still installing, once each of them has reached
// it or settled; Alone runs a member's step alone, after every member
// has settled.
type gathering struct {
	mu sync.Mutex
	// unsettled counts the members that may still call Together.
	unsettled int
	// round holds, by name, the calls of Together waiting for the others.
	round   map[string]*call
	arrived int
	// allSettled is closed once no member may call Together any more.
	allSettled chan struct{}
	// alone lets one member at a time run an Alone step.
	alone sync.Mutex
}

// call is one name's step of a round: the first member to reach it brings
// fn and its context.
type call struct {
	ctx  context.Context
	fn   func(context.Context) error
	err  error
	done chan struct{}
}

func (g *gathering) init() {
	g.round = map[string]*call{}
	g.allSettled = make(chan struct{})
}

// due returns the round's calls once every unsettled member has arrived,
// and starts a new round. Called with g.mu held.
func (g *gathering) due() []*call {
	if g.arrived == 0 || g.arrived < g.unsettled {
		return nil
	}
	calls := make([]*call, 0, len(g.round))
	for _, c := range g.round {
		calls = append(calls, c)
	}
	g.round = map[string]*call{}
	g.arrived = 0
	return calls
}

func run(calls []*call) {
	for _, c := range calls {
		go func() {
			c.err = c.fn(c.ctx)
			close(c.done)
		}()
	}
}

// Together runs fn once for the members of the turn that call Together
// with the same name: when every member that has not settled has called
// it (with this name or another), each name's fn runs once, with the
// context of the first member that brought it, and every caller gets its
// error. A member alone in its turn runs fn at once. The wait does not end
// with ctx: each call must be counted in exactly one round, or a later
// round could start before every member has switched its files. fn, which
// runs with the first caller's ctx, ends with it.
func (h *Hold) Together(ctx context.Context, name string, fn func(context.Context) error) error {
	g := &h.t.gather
	g.mu.Lock()
	c := g.round[name]
	if c == nil {
		c = &call{ctx: ctx, fn: fn, done: make(chan struct{})}
		g.round[name] = c
	}
	g.arrived++
	calls := g.due()
	g.mu.Unlock()
	run(calls)
	<-c.done
	return c.err
}

// Settle says h calls Together no more (its install is over, or it has
// none): the others no longer wait for it. Unlock settles too.
func (h *Hold) Settle() {
	if h.settled {
		return
	}
	h.settled = true
	g := &h.t.gather
	g.mu.Lock()
	g.unsettled--
	calls := g.due()
	if g.unsettled == 0 {
		close(g.allSettled)
	}
	g.mu.Unlock()
	run(calls)
}

// Alone settles h, waits until every member of the turn has settled
// (their installs are over) and runs fn while no other member runs an
// Alone step: a rollback, whose files and reload must not interleave
// with another member's.
func (h *Hold) Alone(ctx context.Context, fn func(context.Context) error) error {
	h.Settle()
	g := &h.t.gather
	select {
	case <-g.allSettled:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.alone.Lock()
	defer g.alone.Unlock()
	return fn(ctx)
}
