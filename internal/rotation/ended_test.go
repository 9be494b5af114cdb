package rotation_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

func TestEndedIsToldHowEachRotationEnded(t *testing.T) {
	ctx := context.Background()
	var endings []rotation.Ending
	h := newHarness(t, func(d *rotation.Deps) {
		d.Ended = func(_ context.Context, e rotation.Ending) { endings = append(endings, e) }
	})
	run := func() store.Rotation {
		t.Helper()
		rot, err := h.runner.Create(ctx, "fw1.example.com", store.TriggerManual, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		rot, _ = h.runner.Run(ctx, rot.ID)
		return rot
	}

	h.dev.installErr = errors.New("reload failed")
	failed := run()
	h.dev.installErr = nil
	succeeded := run()
	again := run()
	if len(endings) != 3 {
		t.Fatalf("Ended was told %d times for 3 rotations", len(endings))
	}
	first, recovery, next := endings[0], endings[1], endings[2]
	if first.Rotation.ID != failed.ID || first.Rotation.State != store.StateFailed || first.Step != rotation.StepInstall ||
		first.Err == nil || first.Before.FailureCount != 0 || first.After.FailureCount != 1 {
		t.Errorf("the failure was told as %s at %q (%v), failures %d -> %d; want failed at install, 0 -> 1",
			first.Rotation.State, first.Step, first.Err, first.Before.FailureCount, first.After.FailureCount)
	}
	if recovery.Rotation.ID != succeeded.ID || recovery.Rotation.State != store.StateSucceeded || recovery.Err != nil ||
		recovery.Before.FailureCount != 1 || recovery.After.FailureCount != 0 || recovery.After.CertificateSerial == "" {
		t.Errorf("the success was told as %s (%v), failures %d -> %d, serial %q; want succeeded, 1 -> 0, the new serial",
			recovery.Rotation.State, recovery.Err, recovery.Before.FailureCount, recovery.After.FailureCount, recovery.After.CertificateSerial)
	}
	if next.ServedBefore != recovery.After.CertificateSerial || next.Before.CertificateSerial != recovery.After.CertificateSerial {
		t.Errorf("the next rotation saw the device serve %q before it, recorded %q; want the serial the last one recorded, %q",
			next.ServedBefore, next.Before.CertificateSerial, recovery.After.CertificateSerial)
	}
	if again.State != store.StateSucceeded {
		t.Errorf("the third rotation ended %s", again.State)
	}
}

func TestEndedSeesWhatADeviceServesAtVerify(t *testing.T) {
	ctx := context.Background()
	var ending rotation.Ending
	h := newHarness(t, func(d *rotation.Deps) {
		// The device serves a certificate that is neither the issued one
		// nor any ottr recorded.
		d.Verify = func(_ context.Context, e verify.Expectation) (verify.Result, error) {
			return verify.Result{Serial: "5d01"}, &verify.MismatchError{Check: verify.CheckSerial, Want: verify.SerialHex(e.Issued[0]), Got: "5d01"}
		}
		d.Ended = func(_ context.Context, e rotation.Ending) { ending = e }
	})
	rot, err := h.runner.Create(ctx, "fw1.example.com", store.TriggerManual, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.runner.Run(ctx, rot.ID); err == nil {
		t.Fatal("the rotation succeeded though verify saw another certificate")
	}
	if ending.Rotation.State != store.StateRolledBack || ending.Step != rotation.StepVerify || ending.ServedAtVerify != "5d01" {
		t.Errorf("told %s at %q, served at verify %q; want rolled_back at verify, and the serial verify saw",
			ending.Rotation.State, ending.Step, ending.ServedAtVerify)
	}
}
