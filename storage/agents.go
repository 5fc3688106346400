package storage

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/parley-chat/parley/parley"
)

// Agent returns the agent with the given id (parley.ENotFound if absent).
func (tx *Tx) Agent(id string) (*parley.Agent, error) {
	a, err := tx.agent(id)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, fmt.Errorf("storage: %w", parley.Errorf(parley.ENotFound, "Agent %s not found.", id))
	}
	return a, nil
}

// agent loads an agent, returning nil, nil if absent.
func (tx *Tx) agent(id string) (*parley.Agent, error) {
	if id == "" {
		return nil, nil
	}
	b, err := tx.bucket(bucketAgents)
	if err != nil {
		return nil, err
	}
	v := b.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	a := new(parley.Agent)
	if err := decode(v, a); err != nil {
		return nil, fmt.Errorf("agent %s: %w", id, err)
	}
	return a, nil
}

// emailKey is the agent_emails key of an e-mail address: lower case.
func emailKey(email string) []byte { return []byte(strings.ToLower(email)) }

// AgentByEmail returns the agent with the given e-mail address, compared
// case-insensitively (parley.ENotFound if none).
func (tx *Tx) AgentByEmail(email string) (*parley.Agent, error) {
	notFound := fmt.Errorf("storage: %w", parley.Errorf(parley.ENotFound, "No agent with that e-mail address."))
	if email == "" || len(email) > maxEmailBytes {
		return nil, notFound
	}
	b, err := tx.bucket(bucketAgentEmails)
	if err != nil {
		return nil, err
	}
	id := b.Get(emailKey(email))
	if id == nil {
		return nil, notFound
	}
	a, err := tx.agent(string(id))
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, fmt.Errorf("storage: e-mail index points at missing agent %s", id)
	}
	return a, nil
}

// Agents returns every agent ordered by id, which is creation order for ULID
// ids.
func (tx *Tx) Agents() ([]*parley.Agent, error) {
	b, err := tx.bucket(bucketAgents)
	if err != nil {
		return nil, err
	}
	out := []*parley.Agent{}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		a := new(parley.Agent)
		if err := decode(v, a); err != nil {
			return nil, fmt.Errorf("agent %s: %w", k, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// PutAgent stores the agent and maintains the e-mail index, including when
// the e-mail changes. It fails with parley.EConflict, writing nothing, if the
// e-mail (compared case-insensitively) belongs to another agent.
func (tx *Tx) PutAgent(a *parley.Agent) error {
	switch {
	case a == nil:
		return fmt.Errorf("storage: put agent: %w", parley.Errorf(parley.EBadRequest, "Missing agent."))
	case a.ID == "" || len(a.ID) > maxEmailBytes:
		return fmt.Errorf("storage: put agent: %w", parley.Errorf(parley.EBadRequest, "Invalid agent id."))
	case len(a.Email) > maxEmailBytes:
		return fmt.Errorf("storage: put agent: %w", parley.Errorf(parley.EBadRequest, "E-mail address is too long."))
	}
	emails, err := tx.bucket(bucketAgentEmails)
	if err != nil {
		return err
	}
	newKey := emailKey(a.Email)
	if a.Email != "" {
		if owner := emails.Get(newKey); owner != nil && string(owner) != a.ID {
			return fmt.Errorf("storage: put agent %s: %w", a.ID, parley.Errorf(parley.EConflict,
				"Another agent already uses that e-mail address."))
		}
	}
	old, err := tx.agent(a.ID)
	if err != nil {
		return err
	}
	if old != nil && old.Email != "" {
		oldKey := emailKey(old.Email)
		if !bytes.Equal(oldKey, newKey) && string(emails.Get(oldKey)) == a.ID {
			if err := tx.del(bucketAgentEmails, oldKey); err != nil {
				return err
			}
		}
	}
	if a.Email != "" {
		if err := tx.put(bucketAgentEmails, newKey, []byte(a.ID)); err != nil {
			return err
		}
	}
	return tx.putJSON(bucketAgents, []byte(a.ID), a)
}

// AgentCount returns the number of agents.
func (tx *Tx) AgentCount() (int, error) {
	b, err := tx.bucket(bucketAgents)
	if err != nil {
		return 0, err
	}
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n, nil
}
