package parley

// KindFile is the kind of the event that shares a file in a session; the
// event's File names it.
const KindFile = "file"

// File is a file shared in a session as clients see it: in the file event
// and in the answer to an upload. The bytes are downloaded from
// GET /v1/{customer,agent}/sessions/{session id}/files/{id}.
type File struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
}

// FileRecord is a file as stored: the wire File plus where its bytes are
// and who shared it where.
type FileRecord struct {
	File
	// Hash is the hex SHA-256 of the bytes, which names the blob they are
	// kept in; blobs are shared by every file with the same bytes.
	Hash       string      `json:"hash"`
	SessionID  string      `json:"session_id"`
	CustomerID string      `json:"customer_id"`
	From       Participant `json:"from"`
	CreatedAt  Time        `json:"created_at"`
}
