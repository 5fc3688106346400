package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/oklog/ulid/v2"

	"github.com/parley-chat/parley/parley"
)

// Buckets of shared files (the bytes are in the blob store, blobs.go).
var (
	// bucketFiles maps a file id (16) to its FileRecord as JSON.
	bucketFiles = []byte("files")
	// bucketSessionFiles indexes files by session: session id (16) + file
	// id (16), empty values.
	bucketSessionFiles = []byte("session_files")
	// bucketBlobRefs indexes files by blob: SHA-256 (32) + file id (16),
	// empty values. A blob with no key here is unreferenced.
	bucketBlobRefs = []byte("blob_refs")
	// bucketCustomerFiles indexes the files customers uploaded, for the
	// quota: customerPrefix + file id (16) -> size (8 BE).
	bucketCustomerFiles = []byte("customer_files")
)

// The file buckets join the buckets Open creates, so that older files get
// them on their next read-write open; read-only opens treat a missing one
// as empty.
// MaxFileNameBytes bounds a stored file name.
const MaxFileNameBytes = 255

func hashBytes(hash string) ([]byte, error) {
	b, err := hex.DecodeString(hash)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("storage: %w", parley.Errorf(parley.EBadRequest, "Bad file hash %q.", hash))
	}
	return b, nil
}

func pairKey(a []byte, id ulid.ULID) []byte {
	k := make([]byte, 0, len(a)+idLen)
	k = append(k, a...)
	return append(k, id[:]...)
}

// PutFile stores a new file record with its index entries. A record
// without an id gets a new one; CreatedAt defaults to the transaction
// time. The session must exist (parley.ENotFound) and the name, hash and
// size must be sane (parley.EBadRequest). Its blob must already be
// installed (PendingBlob.Install).
func (tx *Tx) PutFile(f *parley.FileRecord) error {
	if f == nil {
		return fmt.Errorf("storage: put file: %w", parley.Errorf(parley.EBadRequest, "Missing file."))
	}
	if f.ID == "" {
		f.ID = parley.NewID(tx.now)
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = parley.TimeOf(tx.now)
	}
	fid, err := parseID(f.ID)
	if err != nil {
		return err
	}
	sid, err := parseID(f.SessionID)
	if err != nil {
		return err
	}
	hb, err := hashBytes(f.Hash)
	if err != nil {
		return err
	}
	switch {
	case f.Name == "" || len(f.Name) > MaxFileNameBytes:
		return fmt.Errorf("storage: put file: %w", parley.Errorf(parley.EBadRequest, "A file name must have 1 to %d bytes.", MaxFileNameBytes))
	case f.Size < 0:
		return fmt.Errorf("storage: put file: %w", parley.Errorf(parley.EBadRequest, "Negative file size."))
	case len(f.CustomerID) > maxCustomerIDBytes:
		return fmt.Errorf("storage: put file: %w", parley.Errorf(parley.EBadRequest, "Customer id too long."))
	}
	sessions, err := tx.bucket(bucketSessions)
	if err != nil {
		return err
	}
	if sessions.Get(sid[:]) == nil {
		return fmt.Errorf("storage: put file: %w", parley.Errorf(parley.ENotFound, "Session %s not found.", f.SessionID))
	}
	files, err := tx.bucket(bucketFiles)
	if err != nil {
		return err
	}
	if files.Get(fid[:]) != nil {
		return fmt.Errorf("storage: put file: %w", parley.Errorf(parley.EConflict, "File %s already exists.", f.ID))
	}
	if err := tx.putJSON(bucketFiles, fid[:], f); err != nil {
		return err
	}
	if err := tx.put(bucketSessionFiles, pairKey(sid[:], fid), nil); err != nil {
		return err
	}
	if err := tx.put(bucketBlobRefs, pairKey(hb, fid), nil); err != nil {
		return err
	}
	if f.From.Role == parley.RoleCustomer {
		return tx.put(bucketCustomerFiles, pairKey(customerPrefix(f.CustomerID), fid), u64(uint64(f.Size)))
	}
	return nil
}

// File returns a file record (parley.ENotFound if there is none).
func (tx *Tx) File(id string) (*parley.FileRecord, error) {
	fid, err := parseID(id)
	if err != nil {
		return nil, err
	}
	var v []byte
	if b := tx.optBucket(bucketFiles); b != nil {
		v = b.Get(fid[:])
	}
	if v == nil {
		return nil, fmt.Errorf("storage: %w", parley.Errorf(parley.ENotFound, "File %s not found.", id))
	}
	f := new(parley.FileRecord)
	if err := decode(v, f); err != nil {
		return nil, fmt.Errorf("file %s: %w", id, err)
	}
	return f, nil
}

// SessionFiles returns the records of a session's files, oldest first.
func (tx *Tx) SessionFiles(sessionID string) ([]*parley.FileRecord, error) {
	sid, err := parseID(sessionID)
	if err != nil {
		return nil, err
	}
	out := []*parley.FileRecord{}
	b := tx.optBucket(bucketSessionFiles)
	if b == nil {
		return out, nil
	}
	c := b.Cursor()
	for k, _ := c.Seek(sid[:]); k != nil && bytes.HasPrefix(k, sid[:]); k, _ = c.Next() {
		var fid ulid.ULID
		copy(fid[:], k[idLen:])
		f, err := tx.File(fid.String())
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// SessionFileHashes returns the distinct blob hashes of a session's files,
// to collect (DB.CollectBlobs) once the session is deleted.
func (tx *Tx) SessionFileHashes(sessionID string) ([]string, error) {
	files, err := tx.SessionFiles(sessionID)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := []string{}
	for _, f := range files {
		if !seen[f.Hash] {
			seen[f.Hash] = true
			out = append(out, f.Hash)
		}
	}
	sort.Strings(out)
	return out, nil
}

// CustomerFileBytes returns the bytes of the files a customer uploaded
// that are still stored: what counts against the customer's quota.
func (tx *Tx) CustomerFileBytes(customerID string) (int64, error) {
	b := tx.optBucket(bucketCustomerFiles)
	if b == nil {
		return 0, nil
	}
	prefix := customerPrefix(customerID)
	var n int64
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+idLen || len(v) != 8 {
			return 0, fmt.Errorf("storage: corrupt customer_files entry %x", k)
		}
		n += int64(binary.BigEndian.Uint64(v))
	}
	return n, nil
}

// BlobReferenced reports whether any file record uses the blob of a hash.
func (tx *Tx) BlobReferenced(hash string) (bool, error) {
	hb, err := hashBytes(hash)
	if err != nil {
		return false, err
	}
	b := tx.optBucket(bucketBlobRefs)
	if b == nil {
		return false, nil
	}
	k, _ := b.Cursor().Seek(hb)
	return k != nil && bytes.HasPrefix(k, hb), nil
}

// deleteFile deletes one file record and its index entries.
func (tx *Tx) deleteFile(sid, fid ulid.ULID) error {
	f, err := tx.File(fid.String())
	if err != nil {
		return err
	}
	if hb, err := hashBytes(f.Hash); err == nil {
		if err := tx.del(bucketBlobRefs, pairKey(hb, fid)); err != nil {
			return err
		}
	}
	if err := tx.del(bucketCustomerFiles, pairKey(customerPrefix(f.CustomerID), fid)); err != nil {
		return err
	}
	if err := tx.del(bucketSessionFiles, pairKey(sid[:], fid)); err != nil {
		return err
	}
	return tx.del(bucketFiles, fid[:])
}

// deleteSessionFiles deletes up to limit of a session's file records
// (limit < 1: all) and returns how many it deleted.
func (tx *Tx) deleteSessionFiles(sid ulid.ULID, limit int) (int, error) {
	b := tx.optBucket(bucketSessionFiles)
	if b == nil {
		return 0, nil
	}
	if limit < 1 {
		limit = int(^uint(0) >> 1)
	}
	keys := prefixKeys(b.Cursor(), sid[:], false, limit)
	for _, k := range keys {
		var fid ulid.ULID
		copy(fid[:], k[idLen:])
		if err := tx.deleteFile(sid, fid); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// fileBytes returns the bytes of a session's file records and index
// entries (not their blobs) and the blobs' total size, for purge reports.
func (tx *Tx) fileBytes(sid ulid.ULID) (meta, blobs int64) {
	b := tx.optBucket(bucketSessionFiles)
	files := tx.optBucket(bucketFiles)
	if b == nil || files == nil {
		return 0, 0
	}
	c := b.Cursor()
	for k, _ := c.Seek(sid[:]); k != nil && bytes.HasPrefix(k, sid[:]); k, _ = c.Next() {
		v := files.Get(k[idLen:])
		meta += int64(len(k) + idLen + len(v) + 32 + idLen)
		var f parley.FileRecord
		if decode(v, &f) == nil {
			blobs += f.Size
		}
	}
	return meta, blobs
}
