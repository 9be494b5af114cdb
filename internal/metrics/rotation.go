package metrics

import (
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

// noDriver labels rotations of assets no route takes.
const noDriver = "none"

// maxRotationsInFlight bounds the rotations whose driver is remembered: a
// rotation interrupted by a shutdown never reports its end, and those
// must not pile up in a long-running process.
const maxRotationsInFlight = 10000

// InitRotations makes the rotation counters of drivers exist at 0, so the
// first failure of a driver is an increase Prometheus sees rather than a
// new series.
func (m *Metrics) InitRotations(drivers []string) {
	for _, d := range append(drivers, noDriver) {
		for _, result := range []store.State{store.StateSucceeded, store.StateFailed, store.StateRolledBack} {
			m.rotations.WithLabelValues(d, string(result))
		}
	}
}

// RotationObserver returns a rotation.Deps.Observer that counts rotations
// by driver and final state and times their steps. driverOf names the
// driver of the route an asset takes, "" when none; it is asked once per
// rotation. next, if set, is told of every event after.
func (m *Metrics) RotationObserver(driverOf func(asset string) string, next func(rotation.Event)) func(rotation.Event) {
	return func(e rotation.Event) {
		m.observeRotation(e, driverOf)
		if next != nil {
			next(e)
		}
	}
}

func (m *Metrics) observeRotation(e rotation.Event, driverOf func(string) string) {
	switch e.Phase {
	case rotation.PhaseDone, rotation.PhaseFail, rotation.PhaseEnd:
	default:
		return
	}
	driver := m.driverOf(e, driverOf)
	switch e.Phase {
	case rotation.PhaseDone:
		m.steps.WithLabelValues(driver, string(e.Step), string(store.StateSucceeded)).Observe(e.Duration.Seconds())
	case rotation.PhaseFail:
		m.steps.WithLabelValues(driver, string(e.Step), string(store.StateFailed)).Observe(e.Duration.Seconds())
	case rotation.PhaseEnd:
		m.rotations.WithLabelValues(driver, string(e.State)).Inc()
	}
}

// driverOf returns the driver of e's rotation, asking driverOf the first
// time, and forgets it when the rotation ends.
func (m *Metrics) driverOf(e rotation.Event, driverOf func(string) string) string {
	m.driversMu.Lock()
	d, ok := m.drivers[e.RotationID]
	m.driversMu.Unlock()
	if !ok {
		d = noDriver
		if driverOf != nil {
			if name := driverOf(e.Asset); name != "" {
				d = name
			}
		}
	}
	m.driversMu.Lock()
	defer m.driversMu.Unlock()
	switch {
	case e.Phase == rotation.PhaseEnd:
		delete(m.drivers, e.RotationID)
	case !ok:
		if len(m.drivers) >= maxRotationsInFlight {
			clear(m.drivers)
		}
		m.drivers[e.RotationID] = d
	}
	return d
}
