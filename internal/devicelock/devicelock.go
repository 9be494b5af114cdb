// Package devicelock serializes the part of a rotation that changes a
// device — install, reload, verify, rollback — so that no two rotations
// change one device at once: among the rotations of a process, and, through
// a Backend, among the processes that share a store (a flock beside a
// SQLite file, a PostgreSQL advisory lock in a cluster).
//
// A device is taken in turns. A process waits for the Backend once per
// turn, not once per rotation: the rotations that wait in one process wait
// on a channel. Rotations whose driver can apply several installs with one
// reload (Request.Batch) take the device together: every such rotation
// waiting when a turn starts joins it, and their installs share one reload
// through Hold.Together.
package devicelock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Backend holds a device's key among the processes that share it.
type Backend interface {
	// Acquire waits until this process holds key, or ctx ends, and returns
	// the release. holder says who takes it, for the messages of those who
	// wait. busy, when not nil, is called once if the key is held
	// elsewhere, with what is known of the holder ("" when nothing).
	Acquire(ctx context.Context, key, holder string, busy func(heldBy string)) (release func(), err error)
}

// Request asks for a device.
type Request struct {
	// Key names the device (driver.DeviceKeyer).
	Key string
	// Holder says who asks, as those who wait are told: "rotation 12 of
	// web1.example.com".
	Holder string
	// Batch: the request may share its turn with other batch requests.
	Batch bool
	// Waiting, when set, is told who changes the device when the request
	// has to wait: once for the rotations of this process it waits
	// behind, and once more if another process holds the device when its
	// turn comes.
	Waiting func(holders string)
}

// Locker hands out turns on devices. The zero value is not usable; New
// makes one. It is safe for concurrent use.
type Locker struct {
	backend Backend

	mu      sync.Mutex
	devices map[string]*device
}

// New returns a Locker that holds devices among processes through backend;
// a nil backend serializes within this process only.
func New(backend Backend) *Locker {
	return &Locker{backend: backend, devices: map[string]*device{}}
}

// device is one key's turns: the one holding the device (or taking it from
// the backend) and those waiting for it, in order.
type device struct {
	current *turn
	queue   []*turn
}

// turn is one or more requests that hold a device together.
type turn struct {
	key   string
	batch bool
	// Guarded by Locker.mu.
	members []*Hold
	sealed  bool // the backend answered: no one joins any more
	holding int  // members that have not unlocked
	cancel  context.CancelFunc
	// ready is closed once the backend answered; err is its error.
	ready   chan struct{}
	err     error
	release func()

	gather gathering
}

// Hold is one request's share of a turn on a device. Its methods are for
// the goroutine that locked it.
type Hold struct {
	l       *Locker
	t       *turn
	req     Request
	settled bool
	done    bool
}

// Lock waits until req's turn on the device comes, or ctx ends. The caller
// must Unlock the Hold.
func (l *Locker) Lock(ctx context.Context, req Request) (*Hold, error) {
	if req.Key == "" {
		return nil, errors.New("devicelock: empty device key")
	}
	h := &Hold{l: l, req: req}
	l.mu.Lock()
	d := l.devices[req.Key]
	if d == nil {
		d = &device{}
		l.devices[req.Key] = d
	}
	t := d.joinable(req.Batch)
	if t == nil {
		t = &turn{key: req.Key, batch: req.Batch, ready: make(chan struct{})}
		t.gather.init()
		if d.current == nil {
			d.current = t
		} else {
			d.queue = append(d.queue, t)
		}
	}
	t.members = append(t.members, h)
	h.t = t
	busy := t != d.current
	var busyWith string
	if busy {
		busyWith = d.current.holders()
	}
	start := d.current == t && t.cancel == nil
	if start {
		l.start(t)
	}
	l.mu.Unlock()
	if busy && req.Waiting != nil {
		req.Waiting(busyWith)
	}
	select {
	case <-t.ready:
	case <-ctx.Done():
		l.leave(h)
		return nil, ctx.Err()
	}
	if t.err != nil {
		l.leave(h)
		return nil, t.err
	}
	return h, nil
}

// joinable returns the turn a batch request joins: the one taking the
// device from the backend, else the first waiting batch turn. Nil for any
// other request, which waits in a turn of its own.
func (d *device) joinable(batch bool) *turn {
	if !batch {
		return nil
	}
	if t := d.current; t != nil && t.batch && !t.sealed {
		return t
	}
	for _, t := range d.queue {
		if t.batch {
			return t
		}
	}
	return nil
}

// holders says who the members of t are.
func (t *turn) holders() string {
	names := make([]string, 0, len(t.members))
	for _, m := range t.members {
		if m.req.Holder != "" {
			names = append(names, m.req.Holder)
		}
	}
	if len(names) == 0 {
		return "another rotation"
	}
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("%d more", len(names)-3))
	}
	return strings.Join(names, ", ")
}

// start has t take the device from the backend. Called with l.mu held.
func (l *Locker) start(t *turn) {
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	if l.backend == nil {
		l.seal(t, func() {}, nil)
		return
	}
	holder := t.holders()
	go func() {
		release, err := l.backend.Acquire(ctx, t.key, holder, func(heldBy string) { l.busyElsewhere(t, heldBy) })
		l.mu.Lock()
		empty := l.seal(t, release, err)
		l.mu.Unlock()
		if empty {
			l.end(t)
		}
	}()
}

// busyElsewhere tells the members of t that another process holds the
// device.
func (l *Locker) busyElsewhere(t *turn, heldBy string) {
	if heldBy == "" {
		heldBy = "another ottr process"
	}
	l.mu.Lock()
	members := append([]*Hold(nil), t.members...)
	l.mu.Unlock()
	for _, m := range members {
		if m.req.Waiting != nil {
			m.req.Waiting(heldBy)
		}
	}
}

// seal records the backend's answer and lets t's members go. Called with
// l.mu held; it reports whether t has no member left, or failed, and so is
// to be ended.
func (l *Locker) seal(t *turn, release func(), err error) bool {
	t.sealed = true
	t.err = err
	t.release = release
	t.holding = len(t.members)
	t.gather.unsettled = len(t.members)
	close(t.ready)
	return err != nil || t.holding == 0
}

// leave takes h out of its turn when Lock gives up on it.
func (l *Locker) leave(h *Hold) {
	l.mu.Lock()
	t := h.t
	if t.sealed {
		l.mu.Unlock()
		if t.err == nil {
			h.Unlock()
		}
		return
	}
	for i, m := range t.members {
		if m == h {
			t.members = append(t.members[:i], t.members[i+1:]...)
			break
		}
	}
	if len(t.members) == 0 {
		d := l.devices[t.key]
		if d.current == t {
			// The backend's Acquire ends; its goroutine ends the turn.
			t.cancel()
		} else {
			for i, q := range d.queue {
				if q == t {
					d.queue = append(d.queue[:i], d.queue[i+1:]...)
					break
				}
			}
		}
	}
	l.mu.Unlock()
}

// end releases the device of t and starts the next turn waiting for it.
func (l *Locker) end(t *turn) {
	if t.release != nil {
		t.release()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.devices[t.key]
	if d.current != t {
		return
	}
	d.current = nil
	for len(d.queue) > 0 {
		next := d.queue[0]
		d.queue = d.queue[1:]
		if len(next.members) > 0 {
			d.current = next
			l.start(next)
			return
		}
	}
	delete(l.devices, t.key)
}

// Key is the device's key.
func (h *Hold) Key() string { return h.req.Key }

// Members is how many requests share the turn, this one included.
func (h *Hold) Members() int {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	return len(h.t.members)
}

// Unlock ends h's share of the turn; the device goes to the next turn once
// every member has unlocked. It may be called more than once.
func (h *Hold) Unlock() {
	if h.done {
		return
	}
	h.Settle()
	h.done = true
	l, t := h.l, h.t
	l.mu.Lock()
	t.holding--
	last := t.holding == 0
	l.mu.Unlock()
	if last {
		l.end(t)
	}
}
