package storage

import (
	"fmt"

	"github.com/parley-chat/parley/parley"
)

// validHoldCustomer checks a customer id used as a holds key.
func validHoldCustomer(customerID string) error {
	switch {
	case customerID == "":
		return parley.Errorf(parley.EBadRequest, "A legal hold needs a customer id.")
	case len(customerID) > maxCustomerIDBytes:
		return parley.Errorf(parley.EBadRequest, "Customer id is too long.")
	}
	return nil
}

// PutHold stores a legal hold on the customer, replacing any existing hold
// of that customer. A zero CreatedAt is set to the transaction time. It
// fails with parley.EBadRequest if the customer id is empty.
func (tx *Tx) PutHold(h parley.Hold) error {
	if err := validHoldCustomer(h.CustomerID); err != nil {
		return fmt.Errorf("storage: put hold: %w", err)
	}
	if h.CreatedAt.IsZero() {
		h.CreatedAt = parley.TimeOf(tx.now)
	} else {
		h.CreatedAt = parley.TimeOf(h.CreatedAt.Time)
	}
	return tx.putJSON(bucketHolds, []byte(h.CustomerID), h)
}

// DeleteHold removes the customer's legal hold and reports whether there
// was one.
func (tx *Tx) DeleteHold(customerID string) (bool, error) {
	if err := validHoldCustomer(customerID); err != nil {
		return false, nil // such a hold cannot have been stored
	}
	b, err := tx.bucket(bucketHolds)
	if err != nil {
		return false, err
	}
	if b.Get([]byte(customerID)) == nil {
		return false, nil
	}
	return true, tx.del(bucketHolds, []byte(customerID))
}

// Holds returns every legal hold ordered by customer id (byte order).
func (tx *Tx) Holds() ([]parley.Hold, error) {
	b, err := tx.bucket(bucketHolds)
	if err != nil {
		return nil, err
	}
	out := []parley.Hold{}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var h parley.Hold
		if err := decode(v, &h); err != nil {
			return nil, fmt.Errorf("hold of %q: %w", k, err)
		}
		out = append(out, h)
	}
	return out, nil
}

// OnHold reports whether the customer is under a legal hold.
func (tx *Tx) OnHold(customerID string) (bool, error) {
	if validHoldCustomer(customerID) != nil {
		return false, nil
	}
	b, err := tx.bucket(bucketHolds)
	if err != nil {
		return false, err
	}
	return b.Get([]byte(customerID)) != nil, nil
}
