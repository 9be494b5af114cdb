package pebble

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/letsencrypt/pebble/v2/acme"
	"github.com/letsencrypt/pebble/v2/core"
)

// fileUnderDERSerial works around a fault of Pebble v2.10.1 for an order
// that replaces the certificate certID names (RFC 9773 §5). Pebble files
// an issued certificate's order under the hex of its serial's minimal
// bytes, but looks the replaced certificate up by the hex of the serial
// bytes in the ARI certificate ID: the serial's DER content, which starts
// with a zero byte whenever the first byte's top bit is set. Every such
// certificate is then one Pebble "could not find", and the order fails
// with a 500. So, before Pebble sees the order, the certificate's order
// is filed under that key too. Pebble marks and checks "replaced" only
// through the key it looks up, so the second filing carries that state.
func (c *CA) fileUnderDERSerial(certID string) {
	derHex := serialHex(certID)
	minimalHex, padded := strings.CutPrefix(derHex, "00")
	if !padded || minimalHex == "" || minimalHex[0] < '8' {
		// Not a serial DER pads: Pebble finds it, or nothing will.
		return
	}
	if _, err := c.db.GetOrderByIssuedSerial(derHex); err == nil {
		return
	}
	order, err := c.db.GetOrderByIssuedSerial(minimalHex)
	if err != nil {
		return
	}
	order.RLock()
	filed := &core.Order{
		Order:      acme.Order{Status: order.Status, Identifiers: slices.Clone(order.Identifiers)},
		ID:         order.ID,
		AccountID:  order.AccountID,
		Names:      slices.Clone(order.Names),
		IsReplaced: order.IsReplaced,
	}
	if cert := order.CertificateObject; cert != nil {
		filed.CertificateObject = &core.Certificate{ID: derHex, Cert: cert.Cert, DER: cert.DER, AccountID: cert.AccountID}
	}
	order.RUnlock()
	if filed.CertificateObject == nil {
		return
	}
	_ = c.db.AddOrderByIssuedSerial(filed)
}

// ExpireOrder makes the order at orderURL expire now, as an order left
// unfinished does at a CA: from then on the CA reports it invalid, and
// it can no longer be finalized.
func (c *CA) ExpireOrder(orderURL string) error {
	u, err := url.Parse(orderURL)
	if err != nil {
		return fmt.Errorf("pebble: expire order %q: %w", orderURL, err)
	}
	id, ok := strings.CutPrefix(u.Path, orderPath)
	if !ok || id == "" {
		return fmt.Errorf("pebble: expire order %q: not an order URL of this CA", orderURL)
	}
	c.serial.Lock()
	defer c.serial.Unlock()
	order := c.db.GetOrderByID(id)
	if order == nil {
		return errors.New("pebble: expire order: the CA has no order " + id)
	}
	past := time.Now().Add(-time.Second)
	order.Lock()
	order.ExpiresDate = past
	order.Expires = past.UTC().Format(time.RFC3339)
	authzs := slices.Clone(order.AuthorizationObjects)
	order.Unlock()
	for _, authz := range authzs {
		authz.Lock()
		authz.ExpiresDate = past
		authz.Expires = past.UTC().Format(time.RFC3339)
		authz.Unlock()
	}
	return nil
}
