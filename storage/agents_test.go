package storage

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

func newAgent(name, email string) *parley.Agent {
	now := time.Now()
	return &parley.Agent{
		ID: parley.NewID(now), Name: name, Email: email, Capacity: parley.DefaultCapacity,
		Status: parley.StatusOffline, PasswordHash: []byte("hash"), CreatedAt: parley.TimeOf(now),
	}
}

func TestAgents(t *testing.T) {
	db := openTest(t, Options{})
	ann := newAgent("Ann", "Ann@Example.com")
	bob := newAgent("Bob", "bob@example.com")
	update(t, db, func(tx *Tx) error {
		n, err := tx.AgentCount()
		assert.Zero(t, n)
		require.NoError(t, err)
		require.NoError(t, tx.PutAgent(bob))
		return tx.PutAgent(ann)
	})
	require.NoError(t, db.View(func(tx *Tx) error {
		got, err := tx.Agent(ann.ID)
		require.NoError(t, err)
		assert.Equal(t, ann, got)
		got, err = tx.AgentByEmail("ANN@example.COM")
		require.NoError(t, err)
		assert.Equal(t, ann.ID, got.ID)
		_, err = tx.Agent(parley.NewID(time.Now()))
		assert.Equal(t, parley.ENotFound, parley.ErrorCode(err))
		_, err = tx.AgentByEmail("nobody@example.com")
		assert.Equal(t, parley.ENotFound, parley.ErrorCode(err))
		_, err = tx.AgentByEmail("")
		assert.Equal(t, parley.ENotFound, parley.ErrorCode(err))
		all, err := tx.Agents()
		require.NoError(t, err)
		require.Len(t, all, 2)
		assert.Equal(t, []string{ann.ID, bob.ID}, []string{all[0].ID, all[1].ID}, "ordered by id, not insertion")
		n, err := tx.AgentCount()
		assert.Equal(t, 2, n)
		return err
	}))

	// E-mail uniqueness is case-insensitive.
	clash := newAgent("Imposter", "ann@EXAMPLE.com")
	err := db.Update(t.Context(), func(tx *Tx) error { return tx.PutAgent(clash) })
	assert.Equal(t, parley.EConflict, parley.ErrorCode(err))
	bob.Email = "ANN@example.com"
	err = db.Update(t.Context(), func(tx *Tx) error { return tx.PutAgent(bob) })
	assert.Equal(t, parley.EConflict, parley.ErrorCode(err))
	bob.Email = "bob@example.com"

	// An agent may change the case of its own e-mail, and change it.
	ann.Email = "ANN@example.com"
	update(t, db, func(tx *Tx) error { return tx.PutAgent(ann) })
	ann.Email = "ann@new.example"
	update(t, db, func(tx *Tx) error { return tx.PutAgent(ann) })
	require.NoError(t, db.View(func(tx *Tx) error {
		_, err := tx.AgentByEmail("ann@example.com")
		assert.Equal(t, parley.ENotFound, parley.ErrorCode(err), "old e-mail freed")
		got, err := tx.AgentByEmail("Ann@New.Example")
		require.NoError(t, err)
		assert.Equal(t, ann.ID, got.ID)
		return nil
	}))
	assert.Equal(t, 2, bucketLen(t, db, bucketAgentEmails))
	// The freed address can be taken by someone else.
	update(t, db, func(tx *Tx) error { return tx.PutAgent(clash) })

	err = db.Update(t.Context(), func(tx *Tx) error { return tx.PutAgent(&parley.Agent{Name: "no id"}) })
	assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
}
