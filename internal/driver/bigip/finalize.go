package bigip

import (
	"context"

	"github.com/ottr-go/ottr/internal/driver"
)

// Finalize deletes what older rotations of the same target left on the
// device: the keys, CSRs and certificate objects of every ledger record
// older than this install's, except the record of the objects the install
// replaced (Rollback with this handle must keep working, and an operator
// may still want to go back). Only objects named in ottr's ledger are ever
// deleted, and the device itself refuses to delete an object something
// still uses; such a record is kept for a later run.
//
// Cleanup is housekeeping: by the time Finalize runs, the new certificate
// is verified from the network, and a failure here must not roll it back.
// So problems are logged and Finalize returns an error only for a handle
// it cannot read, and for a failed save after it deleted objects: the saved
// configuration would then still name them, and a device rebooted with it
// would not load it. It can run any number of times.
func (s *session) Finalize(ctx context.Context, h driver.Installed) error {
	i, err := s.parseHandle(h)
	if err != nil {
		return wrapf("finalize", err)
	}
	log := s.log.With("step", "finalize", "record", i.record)
	current, err := s.currentBinding(ctx, i.entry)
	if err != nil {
		log.Warn("bigip: skipping cleanup: cannot read the target", "error", err)
		return nil
	}
	if !current.same(i.bound) {
		log.Warn("bigip: skipping cleanup: the target no longer uses the installed certificate", "binding", current.String())
		return nil
	}
	l, err := s.readLedger(ctx)
	if err != nil {
		log.Warn("bigip: skipping cleanup", "error", err)
		return nil
	}
	if _, found := l.get(i.record); !found {
		log.Warn("bigip: skipping cleanup: the ledger has no record of this install", "ledger", l.path)
		return nil
	}
	var removed []string
	deleted := false
	for _, e := range l.entries {
		if e.Name == i.record {
			// Entries after this one belong to later rotations.
			break
		}
		if e.Installed && e.Bound.same(i.previous) {
			continue
		}
		gone, any := s.deleteObjects(ctx, e)
		deleted = deleted || any
		if gone {
			removed = append(removed, e.Name)
		}
	}
	if !deleted {
		return nil
	}
	if len(removed) > 0 {
		l.remove(removed)
		if err := s.writeLedger(ctx, l, 0); err != nil {
			log.Warn("bigip: deleted old objects but could not update the ledger; a later run will finish", "error", err)
		}
	}
	if err := s.c.saveConfig(ctx); err != nil {
		return errorf("finalize", "deleted objects of older rotations, but the saved configuration still names them and would not load after a reboot: %w", err)
	}
	log.Debug("bigip: deleted the objects of older rotations", "records", removed)
	return nil
}

// deleteObjects deletes the objects of one ledger entry, certificates
// first (a profile that still used them would hold on to the key too). It
// reports whether none is left, and whether it deleted any.
func (s *session) deleteObjects(ctx context.Context, e entry) (gone, deleted bool) {
	objects := []struct{ kind, path string }{
		{"cert", e.Cert}, {"cert", e.Chain}, {"csr", e.Key}, {"key", e.Key},
	}
	for _, o := range objects {
		if o.path == "" {
			continue
		}
		if err := s.c.deleteObject(ctx, o.kind, o.path); err != nil {
			s.log.Warn("bigip: keeping an older rotation's objects", "record", e.Name, "object", o.path, "error", err)
			return false, deleted
		}
		deleted = true
	}
	return true, deleted
}
