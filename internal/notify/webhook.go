package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// The headers of a webhook delivery (docs/notification-channels.md shows a
// receiver that checks them).
const (
	// WebhookEventHeader is the event's kind, such as rotation.failed.
	WebhookEventHeader = "X-Ottr-Event"
	// WebhookDeliveryHeader is the event's key: the same for every try of
	// one event, so a receiver can drop a delivery it already has.
	WebhookDeliveryHeader = "X-Ottr-Delivery"
	// WebhookTimestampHeader is when the delivery was signed, in Unix
	// seconds; a receiver refuses one too far from its own clock, so a
	// captured delivery cannot be replayed later.
	WebhookTimestampHeader = "X-Ottr-Timestamp"
	// WebhookSignatureHeader is "v1=" and the hex HMAC-SHA256, keyed with
	// the channel's secret, of the timestamp, ".", and the body.
	WebhookSignatureHeader = "X-Ottr-Signature"
)

// webhookChannel posts the event as JSON, signed.
type webhookChannel struct {
	name   string
	post   *poster
	secret []byte
}

var _ Channel = (*webhookChannel)(nil)

func newWebhook(s channelSettings) (Channel, error) {
	if s.URL == "" {
		return nil, s.errorf("url", "required: the address the receiver takes deliveries at")
	}
	secret, err := s.secret("secret", s.Secret)
	if err != nil {
		return nil, fmt.Errorf("%w (the receiver checks the signature made with it)", err)
	}
	post, err := s.postToSecretURL("url", s.URL, secret)
	if err != nil {
		return nil, err
	}
	return &webhookChannel{name: s.name, post: post, secret: []byte(secret)}, nil
}

func (c *webhookChannel) Name() string { return c.name }
func (c *webhookChannel) Kind() string { return "webhook" }

// Send posts e, as the JSON of Event, with the headers above.
func (c *webhookChannel) Send(ctx context.Context, e Event) (Receipt, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return Receipt{}, fmt.Errorf("%s: %w", c.post.prefix, err)
	}
	timestamp := strconv.FormatInt(c.post.now().Unix(), 10)
	a, err := c.post.post(ctx, body, http.Header{
		WebhookEventHeader:     {string(e.Kind)},
		WebhookDeliveryHeader:  {e.Key},
		WebhookTimestampHeader: {timestamp},
		WebhookSignatureHeader: {signWebhook(c.secret, timestamp, body)},
	})
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Status: a.Status, Detail: "delivery " + e.Key}, nil
}

// signWebhook is the X-Ottr-Signature of body sent at timestamp.
func signWebhook(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp + "."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}
