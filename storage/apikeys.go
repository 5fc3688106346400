package storage

import (
	"fmt"

	"github.com/parley-chat/parley/parley"
)

// APIKey is a connector's key. Only a hash of the key is kept.
type APIKey struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Hash is the SHA-256 of the key.
	Hash []byte `json:"hash"`
	// Prefix is the key's first characters, to tell keys apart.
	Prefix    string      `json:"prefix"`
	CreatedAt parley.Time `json:"created_at"`
}

// PutAPIKey stores a new key. A name already in use is a conflict.
func (tx *Tx) PutAPIKey(k *APIKey) error {
	if _, err := parseID(k.ID); err != nil {
		return err
	}
	if len(k.Hash) == 0 || len(k.Hash) > 64 {
		return fmt.Errorf("storage: put api key: %w", parley.Errorf(parley.EBadRequest, "Bad key hash."))
	}
	keys, err := tx.APIKeys()
	if err != nil {
		return err
	}
	for _, o := range keys {
		if o.Name == k.Name && o.ID != k.ID {
			return fmt.Errorf("storage: put api key: %w", parley.Errorf(parley.EConflict, "An API key named %q exists.", k.Name))
		}
	}
	if err := tx.put(bucketAPIKeyHashes, k.Hash, []byte(k.ID)); err != nil {
		return err
	}
	return tx.putJSON(bucketAPIKeys, []byte(k.ID), k)
}

// APIKeys returns every API key, oldest first.
func (tx *Tx) APIKeys() ([]*APIKey, error) {
	b, err := tx.bucket(bucketAPIKeys)
	if err != nil {
		return nil, err
	}
	out := []*APIKey{}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		a := new(APIKey)
		if err := decode(v, a); err != nil {
			return nil, fmt.Errorf("api key %s: %w", k, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// APIKeyByHash returns the key with the given SHA-256 hash
// (parley.EUnauthorized if none).
func (tx *Tx) APIKeyByHash(hash []byte) (*APIKey, error) {
	h, err := tx.bucket(bucketAPIKeyHashes)
	if err != nil {
		return nil, err
	}
	id := h.Get(hash)
	if id == nil {
		return nil, parley.Errorf(parley.EUnauthorized, "Unknown API key.")
	}
	b, err := tx.bucket(bucketAPIKeys)
	if err != nil {
		return nil, err
	}
	v := b.Get(id)
	if v == nil {
		return nil, fmt.Errorf("storage: api key index points at missing key %s", id)
	}
	a := new(APIKey)
	if err := decode(v, a); err != nil {
		return nil, fmt.Errorf("api key %s: %w", id, err)
	}
	return a, nil
}

// DeleteAPIKey removes the key with the given id or name and returns it
// (parley.ENotFound if none).
func (tx *Tx) DeleteAPIKey(idOrName string) (*APIKey, error) {
	keys, err := tx.APIKeys()
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.ID == idOrName || k.Name == idOrName {
			if err := tx.del(bucketAPIKeyHashes, k.Hash); err != nil {
				return nil, err
			}
			return k, tx.del(bucketAPIKeys, []byte(k.ID))
		}
	}
	return nil, fmt.Errorf("storage: %w", parley.Errorf(parley.ENotFound, "No API key %q.", idOrName))
}
