package driver

import "context"

// DeviceKeyer is a Session that names the device it changes: the address
// and port of its management channel ("ssh 192.0.2.1:22"), or the ID its
// transport reaches it by. Rotations whose sessions give the same key
// change that device one turn at a time, in every process sharing the
// store. A session without one is keyed by its driver's name and the
// asset's IP address; a route's host setting overrides both.
type DeviceKeyer interface {
	DeviceKey() string
}

// InstallBatcher is a Session whose Install may share its reload with the
// other rotations that change the same device in the same turn: Install
// runs its reload through the Batch in its context (BatchFrom), so every
// member's files are switched first and the service reloads once.
// BatchesInstalls reports whether this session does.
type InstallBatcher interface {
	BatchesInstalls() bool
}

// Batch is the turn in which several rotations of one process change the
// same device. The rotation puts it in the context of Install (WithBatch).
type Batch interface {
	// Together runs fn once for the members of the turn that call it with
	// the same name, once every member still installing has called it,
	// and returns fn's error to each of them. A member alone in its turn
	// runs fn at once.
	Together(ctx context.Context, name string, fn func(context.Context) error) error
	// Alone runs fn once every member's install is over, while no other
	// member runs an Alone step: an install tried again on its own after
	// the batch's reload failed, a rollback.
	Alone(ctx context.Context, fn func(context.Context) error) error
	// Members is how many rotations share the turn.
	Members() int
}

type batchKey struct{}

// WithBatch returns ctx carrying b, for a session's Install.
func WithBatch(ctx context.Context, b Batch) context.Context {
	return context.WithValue(ctx, batchKey{}, b)
}

// BatchFrom returns the Batch ctx carries, or nil.
func BatchFrom(ctx context.Context) Batch {
	b, _ := ctx.Value(batchKey{}).(Batch)
	return b
}
