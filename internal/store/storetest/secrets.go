package storetest

import (
	"bytes"
	"context"
	"testing"

	"github.com/ottr-go/ottr/internal/store"
)

func runSecretTests(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()

	t.Run("returns the value put under a name", func(t *testing.T) {
		s := newStore(t)
		// Sealed values are arbitrary bytes, zeros and invalid UTF-8 included.
		want := []byte{0x00, 0xff, 0xfe, 'k', 0x00, 0x80}
		must(t, s.PutSecret(ctx, "device/fw1", want))
		got, err := s.GetSecret(ctx, "device/fw1")
		must(t, err)
		if !bytes.Equal(got, want) {
			t.Errorf("got %x, want %x", got, want)
		}
	})

	t.Run("replaces the value on a second put", func(t *testing.T) {
		s := newStore(t)
		must(t, s.PutSecret(ctx, "ca/eab", []byte("first")))
		must(t, s.PutSecret(ctx, "ca/eab", []byte("second")))
		got, err := s.GetSecret(ctx, "ca/eab")
		must(t, err)
		if string(got) != "second" {
			t.Errorf("got %q, want the second value", got)
		}
	})

	t.Run("keeps an empty value apart from a missing one", func(t *testing.T) {
		s := newStore(t)
		must(t, s.PutSecret(ctx, "empty", nil))
		got, err := s.GetSecret(ctx, "empty")
		must(t, err)
		if len(got) != 0 {
			t.Errorf("got %x, want an empty value", got)
		}
	})

	t.Run("reports a missing secret as not found", func(t *testing.T) {
		s := newStore(t)
		must(t, s.PutSecret(ctx, "present", []byte("x")))
		_, err := s.GetSecret(ctx, "absent")
		assertIs(t, err, store.ErrNotFound)
	})
}
