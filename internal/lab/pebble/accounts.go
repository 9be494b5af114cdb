package pebble

import (
	"crypto"
	"fmt"
	"slices"
)

// AccountOrders returns the IDs of the orders (as in Counts) created by the
// account whose key is key, oldest first, or an error when the CA knows no
// account of that key. A test that hands ottr an account registered
// elsewhere asks it which account its orders came from.
func (c *CA) AccountOrders(key crypto.PublicKey) ([]string, error) {
	acct, err := c.db.GetAccountByKey(key)
	if err != nil {
		return nil, fmt.Errorf("pebble: account by key: %w", err)
	}
	if acct == nil {
		return nil, fmt.Errorf("pebble: no account of this key")
	}
	var ids []string
	for _, o := range c.db.GetOrdersByAccountID(acct.ID) {
		o.RLock()
		ids = append(ids, o.ID)
		o.RUnlock()
	}
	counted := c.Counts().Orders
	slices.SortFunc(ids, func(a, b string) int {
		return slices.IndexFunc(counted, func(o CountedOrder) bool { return o.ID == a }) -
			slices.IndexFunc(counted, func(o CountedOrder) bool { return o.ID == b })
	})
	return ids, nil
}
