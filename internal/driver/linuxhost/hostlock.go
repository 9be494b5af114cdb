package linuxhost

import (
	"context"
	"sync"
)

// changeLocks serializes, per host, the steps that change it (install and
// rollback: the files' switch and the reload), among the rotations of this
// process. nginx opens a certificate file and its key file one after the
// other, even when both are the same bundle: another rotation's rename
// between the two opens of a reload gives a key that does not match its
// certificate, and the reload fails. Key and CSR generation and issuance
// still run in parallel.
var changeLocks sync.Map // Config.HostKey → chan struct{} (a lock of one)

// lockChanges waits until no other rotation of this process changes the
// same host, or ctx ends, and returns the unlock.
func (h *Host) lockChanges(ctx context.Context) (func(), error) {
	if h.cfg.HostKey == "" {
		return func() {}, nil
	}
	v, _ := changeLocks.LoadOrStore(h.cfg.HostKey, make(chan struct{}, 1))
	lock := v.(chan struct{})
	select {
	case lock <- struct{}{}:
		return func() { <-lock }, nil
	case <-ctx.Done():
		return nil, h.errorf("install", "waiting for another rotation's change of the same %s: %v", h.cfg.Noun, ctx.Err())
	}
}
