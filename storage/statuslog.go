package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parley-chat/parley/parley"
)

// bucketAgentStatus holds the agents' status history. Its keys are the
// agent id (16 bytes), the time of the change (8 bytes BE unix ms) and a
// sequence number (8 bytes BE) that orders changes within one millisecond;
// its values are the JSON of statusValue. Agent first, because every report
// asks per agent "what was its status when the window opened, and what
// changed within it": one Seek and one step back per agent, however long
// the history. Purging by time then walks agent by agent, which is cheap:
// there are few agents.
var bucketAgentStatus = []byte("agent_status")

// The bucket is created by Open like every other one; registering it here
// keeps keys.go untouched by this feature.
// statusKeyLen is the length of an agent_status key.
const statusKeyLen = idLen + msLen + seqLen

// StatusChange is one change of an agent's status: from At on, the agent
// was Status. Reason says why, when it was not the agent's own request
// (for example "disconnected" or "shutdown").
type StatusChange struct {
	AgentID string    `json:"agent_id"`
	At      time.Time `json:"at"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"`
	// Seq is the change's sequence number, which orders changes of one
	// millisecond (set when read).
	Seq uint64 `json:"-"`
}

// statusValue is what an agent_status value stores; the agent and the time
// are in the key.
type statusValue struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func statusKey(aid ulid.ULID, at time.Time, seq uint64) []byte {
	k := make([]byte, 0, statusKeyLen)
	k = append(k, aid[:]...)
	ms := msKey(at)
	k = append(k, ms[:]...)
	return binary.BigEndian.AppendUint64(k, seq)
}

func decodeStatus(k, v []byte) (StatusChange, error) {
	if len(k) != statusKeyLen {
		return StatusChange{}, fmt.Errorf("storage: corrupt agent_status key of %d bytes", len(k))
	}
	var sv statusValue
	if err := decode(v, &sv); err != nil {
		return StatusChange{}, err
	}
	var aid ulid.ULID
	copy(aid[:], k[:idLen])
	ms := int64(binary.BigEndian.Uint64(k[idLen : idLen+msLen]))
	return StatusChange{
		AgentID: aid.String(), At: time.UnixMilli(ms).UTC(), Status: sv.Status, Reason: sv.Reason,
		Seq: binary.BigEndian.Uint64(k[idLen+msLen:]),
	}, nil
}

// AppendStatus stores a status change. seq orders changes of the same
// agent within one millisecond: a writer gives increasing numbers, above
// the Seq of every change stored before it started (see LastStatuses).
// Should the key exist already, the change goes after the changes stored
// for that millisecond.
func (tx *Tx) AppendStatus(c StatusChange, seq uint64) error {
	aid, err := parseID(c.AgentID)
	if err != nil {
		return err
	}
	switch c.Status {
	case parley.StatusAvailable, parley.StatusDraining, parley.StatusBreak, parley.StatusOffline:
	default:
		return fmt.Errorf("storage: append status: %w", parley.Errorf(parley.EBadRequest, "Unknown status %q.", c.Status))
	}
	b, err := tx.bucket(bucketAgentStatus)
	if err != nil {
		return err
	}
	k := statusKey(aid, c.At, seq)
	if b.Get(k) != nil {
		last, _ := lastWithPrefix(b.Cursor(), k[:idLen+msLen])
		k = statusKey(aid, c.At, binary.BigEndian.Uint64(last[idLen+msLen:])+1)
	}
	return tx.putJSON(bucketAgentStatus, k, statusValue{Status: c.Status, Reason: c.Reason})
}

// StatusAgents calls fn with the id of every agent that has a status
// history, in id order. It visits one key per agent.
func (tx *Tx) StatusAgents(fn func(agentID string) error) error {
	b := tx.optBucket(bucketAgentStatus)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, _ := c.First(); k != nil; {
		if len(k) != statusKeyLen {
			return fmt.Errorf("storage: corrupt agent_status key of %d bytes", len(k))
		}
		var aid ulid.ULID
		copy(aid[:], k[:idLen])
		if err := fn(aid.String()); err != nil {
			return err
		}
		end := prefixEnd(k[:idLen])
		if end == nil {
			return nil
		}
		k, _ = c.Seek(end)
	}
	return nil
}

// StatusHistory calls fn, oldest first, with the agent's status at since
// (its last change before since, if any) and then every change at or after
// since and before until. It reads only those keys.
func (tx *Tx) StatusHistory(agentID string, since, until time.Time, fn func(StatusChange) error) error {
	aid, err := parseID(agentID)
	if err != nil {
		return err
	}
	b := tx.optBucket(bucketAgentStatus)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	start := statusKey(aid, since, 0)
	k, v := c.Seek(start)
	// Step back once for the status in force at since.
	var pk, pv []byte
	if k == nil {
		pk, pv = c.Last()
	} else {
		pk, pv = c.Prev()
	}
	if pk != nil && bytes.HasPrefix(pk, aid[:]) {
		sc, err := decodeStatus(pk, pv)
		if err != nil {
			return err
		}
		if err := fn(sc); err != nil {
			return err
		}
	}
	k, v = c.Seek(start)
	bound := msKey(until)
	for ; k != nil && bytes.HasPrefix(k, aid[:]); k, v = c.Next() {
		if len(k) == statusKeyLen && bytes.Compare(k[idLen:idLen+msLen], bound[:]) >= 0 {
			break
		}
		sc, err := decodeStatus(k, v)
		if err != nil {
			return err
		}
		if err := fn(sc); err != nil {
			return err
		}
	}
	return nil
}

// LastStatuses returns every agent's latest status change, by agent id.
func (tx *Tx) LastStatuses() (map[string]StatusChange, error) {
	out := map[string]StatusChange{}
	b := tx.optBucket(bucketAgentStatus)
	if b == nil {
		return out, nil
	}
	err := tx.StatusAgents(func(agentID string) error {
		aid, err := parseID(agentID)
		if err != nil {
			return err
		}
		k, v := lastWithPrefix(b.Cursor(), aid[:])
		if k == nil {
			return nil
		}
		sc, err := decodeStatus(k, v)
		if err != nil {
			return err
		}
		out[agentID] = sc
		return nil
	})
	return out, err
}

// PurgeStatuses deletes status changes older than cutoff, at most maxKeys
// of them, and reports how many it deleted and whether more remain. Each
// agent keeps its last change before cutoff, because that change still
// says what its status was at cutoff (and after, until the next change);
// so a report over a window that starts at the cutoff stays exact.
func (tx *Tx) PurgeStatuses(cutoff time.Time, maxKeys int) (deleted int, more bool, err error) {
	if maxKeys < 1 {
		return 0, false, fmt.Errorf("storage: purge statuses: %w", parley.Errorf(parley.EBadRequest, "maxKeys must be at least 1."))
	}
	b := tx.optBucket(bucketAgentStatus)
	if b == nil {
		return 0, false, nil
	}
	var agents []ulid.ULID
	if err := tx.StatusAgents(func(id string) error {
		aid, err := parseID(id)
		agents = append(agents, aid)
		return err
	}); err != nil {
		return 0, false, err
	}
	for _, aid := range agents {
		c := b.Cursor()
		// The keys of this agent before cutoff, but the last of them.
		var doomed [][]byte
		bound := statusKey(aid, cutoff, 0)
		for k, _ := c.Seek(aid[:]); k != nil && bytes.Compare(k, bound) < 0; k, _ = c.Next() {
			doomed = append(doomed, bytes.Clone(k))
			if len(doomed) > maxKeys-deleted {
				break
			}
		}
		if len(doomed) > 0 {
			if len(doomed) > maxKeys-deleted {
				// More than we may delete: delete maxKeys-deleted and
				// come back (the last collected key is not deleted, so
				// the one in force at cutoff survives either way).
				doomed = doomed[:maxKeys-deleted]
				more = true
			} else {
				doomed = doomed[:len(doomed)-1] // keep the one in force at cutoff
			}
		}
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return deleted, false, fmt.Errorf("storage: delete from %s: %w", bucketAgentStatus, err)
			}
		}
		deleted += len(doomed)
		if more || deleted == maxKeys {
			return deleted, true, nil
		}
	}
	return deleted, false, nil
}

// CountStatusesBefore returns how many status changes PurgeStatuses would
// delete for cutoff: those older than cutoff but each agent's last one.
func (tx *Tx) CountStatusesBefore(cutoff time.Time) (int, error) {
	b := tx.optBucket(bucketAgentStatus)
	if b == nil {
		return 0, nil
	}
	n := 0
	err := tx.StatusAgents(func(id string) error {
		aid, err := parseID(id)
		if err != nil {
			return err
		}
		bound := statusKey(aid, cutoff, 0)
		c, older := b.Cursor(), 0
		for k, _ := c.Seek(aid[:]); k != nil && bytes.Compare(k, bound) < 0; k, _ = c.Next() {
			older++
		}
		n += max(0, older-1)
		return nil
	})
	return n, err
}
