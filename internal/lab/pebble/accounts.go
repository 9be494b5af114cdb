package pebble

import (
	"crypto"
	"errors"
	"fmt"
)

// AccountOrders returns the IDs of the orders (as in Counts) created by the
// account whose key is key, in no particular order, or an error when the CA
// knows no account of that key. A test that hands ottr an account registered
// elsewhere asks it which account its orders came from.
func (c *CA) AccountOrders(key crypto.PublicKey) ([]string, error) {
	acct, err := c.db.GetAccountByKey(key)
	if err != nil {
		return nil, fmt.Errorf("pebble: account by key: %w", err)
	}
	if acct == nil {
		return nil, errors.New("pebble: no account of this key")
	}
	var ids []string
	for _, o := range c.db.GetOrdersByAccountID(acct.ID) {
		o.RLock()
		ids = append(ids, o.ID)
		o.RUnlock()
	}
	return ids, nil
}
