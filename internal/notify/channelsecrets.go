package notify

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/secret"
)

// storedChannel is a channel with a secret in a secret store (aws-sm:,
// vault:). Its secrets are read at each send, through the Resolver and
// its cache, and the channel is built again when one has changed: a store
// that is down fails the deliveries made while it is, not the start of
// the process, and a token rotated in the store is used once the cached
// value has expired.
type storedChannel struct {
	name     string
	settings config.NotifyChannel
	build    Constructor
	options  ChannelOptions

	mu sync.Mutex
	// built is the channel built from values, the secrets in the order of
	// settings.Secrets(); nil until a send has read them all.
	built  Channel
	values []string
}

var _ Channel = (*storedChannel)(nil)

// hasStoredSecret reports whether a secret of c is in a secret store.
func hasStoredSecret(c config.NotifyChannel) bool {
	return slices.ContainsFunc(c.Secrets(), func(s config.NotifySecret) bool { return isStoreRef(s.Ref) })
}

func isStoreRef(ref string) bool {
	r, err := secret.ParseRef(ref)
	return err == nil && (r.Scheme == secret.SchemeAWS || r.Scheme == secret.SchemeVault)
}

func (c *storedChannel) Name() string { return c.name }
func (c *storedChannel) Kind() string { return c.settings.Kind }

// Send reads the channel's secrets and sends e with the channel they make.
// A secret that cannot be read fails this delivery, as one worth trying
// again: the store may be back by then.
func (c *storedChannel) Send(ctx context.Context, e Event) (Receipt, error) {
	ch, err := c.current()
	if err != nil {
		return Receipt{}, err
	}
	return ch.Send(ctx, e)
}

// current returns the channel built from the secrets as they read now.
func (c *storedChannel) current() (Channel, error) {
	secrets := c.settings.Secrets()
	values := make([]string, len(secrets))
	for i, s := range secrets {
		value, err := c.options.Resolve(s.Ref)
		if err != nil {
			return nil, &RetryableError{Err: fmt.Errorf("notify: %s channel %s: notifications.channels.%s.%s: %w (the delivery is tried again)",
				c.settings.Kind, c.name, c.name, s.Setting, err)}
		}
		values[i] = value
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.built != nil && slices.Equal(values, c.values) {
		return c.built, nil
	}
	ch, err := c.buildWith(secrets, values)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	c.built, c.values = ch, values
	return ch, nil
}

// buildWith builds the channel with the values just read, so the channel
// holds exactly the values it is compared by.
func (c *storedChannel) buildWith(secrets []config.NotifySecret, values []string) (Channel, error) {
	o := c.options
	o.Resolve = func(ref string) (string, error) {
		for i, s := range secrets {
			if s.Ref == ref {
				return values[i], nil
			}
		}
		return c.options.Resolve(ref)
	}
	return c.build(c.name, c.settings, o)
}
