package storetest

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

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

	t.Run("creates a value once: the first of two creates wins", func(t *testing.T) {
		s := newStore(t)
		must(t, s.CreateSecret(ctx, "acme-account/lab", []byte("first")))
		assertIs(t, s.CreateSecret(ctx, "acme-account/lab", []byte("second")), store.ErrExists)
		got, err := s.GetSecret(ctx, "acme-account/lab")
		must(t, err)
		if string(got) != "first" {
			t.Errorf("got %q, want the first value kept", got)
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

	runResealTests(t, newStore)
}

// runResealTests checks what rotating the master key relies on: every
// sealed value is listed, and rewritten all at once or not at all.
func runResealTests(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()
	putAll := func(t *testing.T, s store.Store, values map[string]string) {
		t.Helper()
		for name, v := range values {
			must(t, s.PutSecret(ctx, name, []byte(v)))
		}
	}
	assertValues := func(t *testing.T, s store.Store, want map[string]string) {
		t.Helper()
		for name, v := range want {
			got, err := s.GetSecret(ctx, name)
			must(t, err)
			if string(got) != v {
				t.Errorf("secret %s is %q, want %q", name, got, v)
			}
		}
	}

	t.Run("lists every secret's name in byte order", func(t *testing.T) {
		s := newStore(t)
		putAll(t, s, map[string]string{"b": "1", "B": "2", "a/x": "3", "a": "4", "acme-account/lab": "5"})
		names, err := s.SecretNames(ctx)
		must(t, err)
		if want := []string{"B", "a", "a/x", "acme-account/lab", "b"}; !slices.Equal(names, want) {
			t.Errorf("got %q, want %q", names, want)
		}
	})

	t.Run("an empty store lists no secret and reseals none", func(t *testing.T) {
		s := newStore(t)
		names, err := s.SecretNames(ctx)
		must(t, err)
		if len(names) != 0 {
			t.Errorf("got %q, want no names", names)
		}
		n, err := s.ResealSecrets(ctx, func(string, []byte) ([]byte, error) {
			t.Error("reseal called on an empty store")
			return nil, nil
		})
		must(t, err)
		if n != 0 {
			t.Errorf("resealed %d, want 0", n)
		}
	})

	t.Run("replaces every value by what reseal returns for it", func(t *testing.T) {
		s := newStore(t)
		putAll(t, s, map[string]string{"acme-account/lab": "one", "api/signing-key": "two", "empty": ""})
		seen := map[string]string{}
		n, err := s.ResealSecrets(ctx, func(name string, value []byte) ([]byte, error) {
			seen[name] = string(value)
			return append([]byte("new:"), value...), nil
		})
		must(t, err)
		if n != 3 {
			t.Errorf("resealed %d, want 3", n)
		}
		if want := map[string]string{"acme-account/lab": "one", "api/signing-key": "two", "empty": ""}; !maps.Equal(seen, want) {
			t.Errorf("reseal was given %q, want %q", seen, want)
		}
		assertValues(t, s, map[string]string{"acme-account/lab": "new:one", "api/signing-key": "new:two", "empty": "new:"})
	})

	t.Run("changes nothing when reseal fails for one value", func(t *testing.T) {
		s := newStore(t)
		before := map[string]string{"a": "one", "b": "two", "c": "three"}
		putAll(t, s, before)
		refused := errors.New("does not open")
		_, err := s.ResealSecrets(ctx, func(name string, value []byte) ([]byte, error) {
			if name == "b" {
				return nil, refused
			}
			return []byte("new"), nil
		})
		assertIs(t, err, refused)
		assertValues(t, s, before)
		// The store is still usable: the failed transaction let go.
		must(t, s.PutSecret(ctx, "d", []byte("four")))
	})

	t.Run("keeps a secret written while a reseal runs", func(t *testing.T) {
		s := newStore(t)
		putAll(t, s, map[string]string{"a": "one", "b": "two"})
		putDone := make(chan error, 1)
		_, err := s.ResealSecrets(ctx, func(name string, value []byte) ([]byte, error) {
			if name == "a" {
				go func() { putDone <- s.PutSecret(ctx, "b", []byte("written meanwhile")) }()
				// A store that lets the write through now would overwrite
				// it below with b's old value, resealed. A correct one
				// holds it until the reseal commits, and this waits for
				// nothing.
				select {
				case err := <-putDone:
					putDone <- err
				case <-time.After(200 * time.Millisecond):
				}
			}
			return append([]byte("new:"), value...), nil
		})
		must(t, err)
		must(t, <-putDone)
		assertValues(t, s, map[string]string{"a": "new:one", "b": "written meanwhile"})
	})
}
