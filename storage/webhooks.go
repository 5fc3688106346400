package storage

import (
	"fmt"

	"github.com/parley-chat/parley/parley"
)

// Webhook is a URL Parley POSTs chosen events to, signed with Secret.
type Webhook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	// Secret signs the deliveries (HMAC-SHA256); it is kept in the clear
	// because signing needs it.
	Secret    string      `json:"secret"`
	CreatedAt parley.Time `json:"created_at"`
}

// PutWebhook stores a webhook under its id.
func (tx *Tx) PutWebhook(w *Webhook) error {
	if _, err := parseID(w.ID); err != nil {
		return err
	}
	return tx.putJSON(bucketWebhooks, []byte(w.ID), w)
}

// Webhooks returns every webhook, oldest first.
func (tx *Tx) Webhooks() ([]*Webhook, error) {
	b, err := tx.bucket(bucketWebhooks)
	if err != nil {
		return nil, err
	}
	out := []*Webhook{}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		w := new(Webhook)
		if err := decode(v, w); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", k, err)
		}
		out = append(out, w)
	}
	return out, nil
}

// HasWebhooks reports whether any webhook is configured; it costs one
// cursor step, so hot paths can skip the rest when there is none.
func (tx *Tx) HasWebhooks() bool {
	b := tx.tx.Bucket(bucketWebhooks)
	if b == nil {
		return false
	}
	k, _ := b.Cursor().First()
	return k != nil
}

// Webhook returns one webhook (parley.ENotFound if absent).
func (tx *Tx) Webhook(id string) (*Webhook, error) {
	b, err := tx.bucket(bucketWebhooks)
	if err != nil {
		return nil, err
	}
	v := b.Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("storage: %w", parley.Errorf(parley.ENotFound, "Webhook %s not found.", id))
	}
	w := new(Webhook)
	if err := decode(v, w); err != nil {
		return nil, fmt.Errorf("webhook %s: %w", id, err)
	}
	return w, nil
}

// DeleteWebhook removes a webhook (parley.ENotFound if absent). Its
// pending deliveries are left for the deliverer, which drops them.
func (tx *Tx) DeleteWebhook(id string) error {
	if _, err := tx.Webhook(id); err != nil {
		return err
	}
	return tx.del(bucketWebhooks, []byte(id))
}
