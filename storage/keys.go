package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parley-chat/parley/parley"
)

// Bucket names. Every bucket is created by Open.
var (
	bucketMeta             = []byte("meta")
	bucketSessions         = []byte("sessions")
	bucketEvents           = []byte("events")
	bucketCustomerSessions = []byte("customer_sessions")
	bucketOpenSessions     = []byte("open_sessions")
	bucketQueue            = []byte("queue")
	bucketEnded            = []byte("ended")
	bucketClientMsgIDs     = []byte("client_msg_ids")
	bucketAgents           = []byte("agents")
	bucketAgentEmails      = []byte("agent_emails")
	bucketHolds            = []byte("holds")
	bucketAudit            = []byte("audit")
	bucketOutbox           = []byte("outbox")
	bucketOutboxPending    = []byte("outbox_pending")
	bucketOutboxIdem       = []byte("outbox_idem")
	bucketOutboxSessions   = []byte("outbox_sessions")
	bucketWebhooks         = []byte("webhooks")
	bucketAPIKeys          = []byte("apikeys")
	bucketAPIKeyHashes     = []byte("apikey_hashes")

	// allBuckets is created with CreateBucketIfNotExists on every Open, so
	// buckets added later (holds, audit) appear in older files without a
	// schema change.
	allBuckets = [][]byte{
		bucketMeta, bucketSessions, bucketEvents, bucketCustomerSessions,
		bucketOpenSessions, bucketQueue, bucketEnded, bucketClientMsgIDs,
		bucketAgents, bucketAgentEmails, bucketHolds, bucketAudit,
		bucketOutbox, bucketOutboxPending, bucketOutboxIdem, bucketOutboxSessions, bucketWebhooks,
		bucketAPIKeys, bucketAPIKeyHashes,
		bucketAgentStatus,                                                    // statuslog.go
		bucketFiles, bucketSessionFiles, bucketBlobRefs, bucketCustomerFiles, // files.go
	}
)

// Meta keys.
var (
	metaSchemaVersion = []byte("schema_version")
	metaEpoch         = []byte("epoch")
	metaAgentSecret   = []byte("agent_secret")
	metaCreatedAt     = []byte("created_at")
)

const (
	idLen  = 16 // binary ULID
	seqLen = 8
	msLen  = 8
	// maxCustomerIDBytes bounds customer ids so that index keys stay well
	// below bbolt's key size limit.
	maxCustomerIDBytes = 4096
	// maxEmailBytes bounds agent e-mail addresses for the same reason.
	maxEmailBytes = 1024
)

// parseID parses a ULID string into its 16 binary bytes, failing with
// bad_request on anything that is not a ULID.
func parseID(s string) (ulid.ULID, error) {
	id, err := parley.ParseID(s)
	if err != nil {
		return ulid.ULID{}, fmt.Errorf("storage: %w", err)
	}
	return id, nil
}

// msKey encodes t as 8 big-endian bytes of unix milliseconds. Times before
// 1970 (including the zero time) are clamped to 0 so ordering stays sane.
func msKey(t time.Time) [msLen]byte {
	var b [msLen]byte
	if t.IsZero() {
		return b
	}
	ms := t.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	binary.BigEndian.PutUint64(b[:], uint64(ms))
	return b
}

// timeIDKey returns t (8 bytes BE unix ms) followed by the 16-byte id: the
// key layout of the queue and ended indexes.
func timeIDKey(t time.Time, id ulid.ULID) []byte {
	ms := msKey(t)
	k := make([]byte, 0, msLen+idLen)
	k = append(k, ms[:]...)
	return append(k, id[:]...)
}

// eventKey returns the events bucket key: session id (16) + seq (8 BE).
func eventKey(sid ulid.ULID, seq uint64) []byte {
	k := make([]byte, idLen+seqLen)
	copy(k, sid[:])
	binary.BigEndian.PutUint64(k[idLen:], seq)
	return k
}

// clientMsgKey returns the client_msg_ids bucket key: session id (16) +
// client_msg_id bytes.
func clientMsgKey(sid ulid.ULID, clientMsgID string) []byte {
	k := make([]byte, 0, idLen+len(clientMsgID))
	k = append(k, sid[:]...)
	return append(k, clientMsgID...)
}

// customerPrefix returns the customer_sessions prefix of a customer: the
// customer id's length (2 bytes BE) followed by the id, so that no customer's
// prefix is a prefix of another's.
func customerPrefix(customerID string) []byte {
	k := make([]byte, 2, 2+len(customerID)+msLen+idLen)
	binary.BigEndian.PutUint16(k, uint16(len(customerID)))
	return append(k, customerID...)
}

// customerKey returns the customer_sessions key of a session: the customer
// prefix, then CreatedAt (8 bytes BE unix ms), then the session id, so that a
// customer's sessions are ordered by CreatedAt and then id.
func customerKey(customerID string, createdAt time.Time, sid ulid.ULID) []byte {
	k := customerPrefix(customerID)
	ms := msKey(createdAt)
	k = append(k, ms[:]...)
	return append(k, sid[:]...)
}

// prefixEnd returns the smallest key greater than every key starting with
// prefix, or nil if there is none (prefix is all 0xff).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// u64 encodes v as 8 big-endian bytes.
func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
