package storage

import (
	"bytes"
	"encoding/binary"

	"github.com/oklog/ulid/v2"

	"github.com/parley-chat/parley/parley"
)

// This file checks the buckets added after the first check was written:
// the agents' status history, queues and routing decisions, the
// customer_files index, the outbox with its three indexes, webhooks and API
// keys. A bucket an older file lacks (opened read-only, so Open did not
// create it) counts as empty.

// checkStatusLog checks that every status change has a well-formed key, a
// known status and belongs to an existing agent (agents are never deleted).
func (tx *Tx) checkStatusLog(c *checker) error {
	b := tx.optBucket(bucketAgentStatus)
	if b == nil {
		return nil
	}
	agents, err := tx.bucket(bucketAgents)
	if err != nil {
		return err
	}
	var cur []byte // agent prefix of the run being checked
	return b.ForEach(func(k, v []byte) error {
		c.report.StatusChanges++
		if len(k) != statusKeyLen {
			c.problem("Agent status key %x is %d bytes long instead of %d.", k, len(k), statusKeyLen)
			return nil
		}
		sc, err := decodeStatus(k, v)
		if err != nil {
			c.problem("The status change %x cannot be decoded: %v.", k, err)
			return nil
		}
		if !bytes.Equal(cur, k[:idLen]) {
			cur = bytes.Clone(k[:idLen])
			if agents.Get([]byte(sc.AgentID)) == nil {
				c.problem("Status history exists for agent %s, which does not exist.", sc.AgentID)
			}
		}
		switch sc.Status {
		case parley.StatusAvailable, parley.StatusDraining, parley.StatusBreak, parley.StatusOffline:
		default:
			c.problem("The status change of agent %s at %s has an unknown status %q.",
				sc.AgentID, sc.At.Format(parley.TimeLayout), sc.Status)
		}
		return nil
	})
}

// checkQueues checks the queues (named as their keys, valid names, the
// default queue present) and that every queued session waits in an
// existing queue. Only queued sessions: a queue may be removed once nobody
// waits in it, so active and ended sessions may name a removed queue.
func (tx *Tx) checkQueues(c *checker) error {
	b := tx.optBucket(bucketQueues)
	if b == nil {
		return nil // an older file opened read-only: every session is in the default queue
	}
	names := map[string]bool{}
	err := b.ForEach(func(k, v []byte) error {
		c.report.Queues++
		var q parley.Queue
		if err := decode(v, &q); err != nil {
			c.problem("Queue %q cannot be decoded: %v.", k, err)
			return nil
		}
		names[string(k)] = true
		if q.Name != string(k) {
			c.problem("Queue stored under %q is named %q.", k, q.Name)
		}
		if err := parley.ValidQueueName(string(k)); err != nil {
			c.problem("Queue %q has an invalid name: %s", k, parley.ErrorMessage(err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !names[parley.DefaultQueue] {
		c.problem("The default queue %q is missing.", parley.DefaultQueue)
	}
	queue, err := tx.bucket(bucketQueue)
	if err != nil {
		return err
	}
	return queue.ForEach(func(k, _ []byte) error {
		if len(k) < idLen {
			return nil // checkIndexes reports it
		}
		var sid ulid.ULID
		copy(sid[:], k[len(k)-idLen:])
		r, err := tx.session(sid)
		if err != nil || r == nil || r.State != parley.StateQueued {
			return nil // checkIndexes reports it
		}
		if !names[r.QueueName()] {
			c.problem("Queued session %s waits in queue %q, which does not exist.", sid, r.QueueName())
		}
		return nil
	})
}

// checkRoutings checks that every routing decision matches its key
// (session id, decision time, agent id) and belongs to an existing session:
// deleting a session deletes its decisions.
func (tx *Tx) checkRoutings(c *checker) error {
	b := tx.optBucket(bucketRouting)
	if b == nil {
		return nil
	}
	var cur []byte // session prefix of the run being checked
	return b.ForEach(func(k, v []byte) error {
		c.report.Routings++
		if len(k) < idLen+msLen {
			c.problem("Routing key %x is %d bytes long, too short to hold a session id and a time.", k, len(k))
			return nil
		}
		var sid ulid.ULID
		copy(sid[:], k)
		if !bytes.Equal(cur, k[:idLen]) {
			cur = bytes.Clone(k[:idLen])
			if r, err := tx.session(sid); err == nil && r == nil {
				c.problem("Routing decisions exist for session %s, which does not exist.", sid)
			}
		}
		agentID := string(k[idLen+msLen:])
		var r parley.Routing
		if err := decode(v, &r); err != nil {
			c.problem("The routing decision of session %s for agent %q cannot be decoded: %v.", sid, agentID, err)
			return nil
		}
		at := msKey(r.At.Time)
		if r.SessionID != sid.String() || r.AgentID != agentID || !bytes.Equal(at[:], k[idLen:idLen+msLen]) {
			c.problem("The routing decision stored under session %s, agent %q does not match its key (it names session %q, agent %q).",
				sid, agentID, r.SessionID, r.AgentID)
		}
		return nil
	})
}

// checkCustomerFiles checks the customer_files index, the other way than
// checkFiles: every entry is well formed and points at an existing file
// that the same customer uploaded, with the file's size as its value (the
// quota adds these values up).
func (tx *Tx) checkCustomerFiles(c *checker) error {
	b := tx.optBucket(bucketCustomerFiles)
	if b == nil {
		return nil
	}
	files := tx.optBucket(bucketFiles)
	return b.ForEach(func(k, v []byte) error {
		if len(k) < 2+idLen || len(k) != 2+int(binary.BigEndian.Uint16(k))+idLen || len(v) != 8 {
			c.problem("The customer_files entry %x is malformed (%d-byte value).", k, len(v))
			return nil
		}
		cid := string(k[2 : len(k)-idLen])
		var fid ulid.ULID
		copy(fid[:], k[len(k)-idLen:])
		var f parley.FileRecord
		var fv []byte
		if files != nil {
			fv = files.Get(fid[:])
		}
		if fv == nil || decode(fv, &f) != nil {
			c.problem("The customer_files entry of customer %q points at file %s, which does not exist.", cid, fid)
			return nil
		}
		size := int64(binary.BigEndian.Uint64(v))
		switch {
		case f.From.Role != parley.RoleCustomer:
			c.problem("The customer_files entry of customer %q points at file %s, which no customer uploaded (%s).", cid, fid, f.From.Role)
		case f.CustomerID != cid:
			c.problem("The customer_files entry of customer %q points at file %s of customer %q.", cid, fid, f.CustomerID)
		case size != f.Size:
			c.problem("The customer_files entry of file %s counts %d bytes, but the file has %d.", fid, size, f.Size)
		}
		return nil
	})
}

// checkWebhooksAndAPIKeys checks that webhooks and API keys are stored
// under their ids, and the API key hash index both ways.
func (tx *Tx) checkWebhooksAndAPIKeys(c *checker) error {
	if b := tx.optBucket(bucketWebhooks); b != nil {
		err := b.ForEach(func(k, v []byte) error {
			c.report.Webhooks++
			var w Webhook
			switch err := decode(v, &w); {
			case err != nil:
				c.problem("Webhook %q cannot be decoded: %v.", k, err)
			case w.ID != string(k):
				c.problem("Webhook stored under %q has id %q.", k, w.ID)
			case w.URL == "":
				c.problem("Webhook %s has no URL.", k)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	keys, hashes := tx.optBucket(bucketAPIKeys), tx.optBucket(bucketAPIKeyHashes)
	if keys == nil || hashes == nil {
		return nil
	}
	err := keys.ForEach(func(k, v []byte) error {
		c.report.APIKeys++
		var a APIKey
		switch err := decode(v, &a); {
		case err != nil:
			c.problem("API key %q cannot be decoded: %v.", k, err)
		case a.ID != string(k):
			c.problem("API key stored under %q has id %q.", k, a.ID)
		case len(a.Hash) == 0:
			c.problem("API key %s (%q) has no hash.", k, a.Name)
		case hashes.Get(a.Hash) == nil:
			c.problem("API key %s (%q) has no entry in the apikey_hashes index.", k, a.Name)
		case string(hashes.Get(a.Hash)) != a.ID:
			c.problem("API key %s (%q)'s hash is indexed to key %q.", k, a.Name, hashes.Get(a.Hash))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return hashes.ForEach(func(k, v []byte) error {
		var a APIKey
		av := keys.Get(v)
		switch {
		case av == nil:
			c.problem("The apikey_hashes entry %.8x… points at API key %q, which does not exist.", k, v)
		case decode(av, &a) != nil:
			// reported above
		case !bytes.Equal(a.Hash, k):
			c.problem("The apikey_hashes entry %.8x… points at API key %q, whose hash is %.8x….", k, v, a.Hash)
		}
		return nil
	})
}
