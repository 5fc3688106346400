package storage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strconv"

	"github.com/oklog/ulid/v2"

	"github.com/parley-chat/parley/parley"
)

// checkFiles checks the file records against their sessions, their
// indexes and their blobs: every blob a record references must exist and
// hold bytes of the recorded size whose SHA-256 is the recorded hash.
func (tx *Tx) checkFiles(c *checker, blobs *Blobs) error {
	files := tx.optBucket(bucketFiles)
	if files == nil {
		return nil
	}
	sessFiles, refs, custFiles := tx.optBucket(bucketSessionFiles), tx.optBucket(bucketBlobRefs), tx.optBucket(bucketCustomerFiles)
	if sessFiles == nil || refs == nil || custFiles == nil {
		c.problem("The files bucket exists without its index buckets.")
		return nil
	}
	checked := map[string]bool{}
	err := files.ForEach(func(k, v []byte) error {
		c.report.Files++
		if len(k) != idLen {
			c.problem("File key %x is %d bytes long instead of %d.", k, len(k), idLen)
			return nil
		}
		var fid ulid.ULID
		copy(fid[:], k)
		var f parley.FileRecord
		if err := decode(v, &f); err != nil {
			c.problem("File %s cannot be decoded: %v.", fid, err)
			return nil
		}
		if f.ID != fid.String() {
			c.problem("File stored under %s has id %q.", fid, f.ID)
		}
		sid, err := parley.ParseID(f.SessionID)
		if err != nil {
			c.problem("File %s names a bad session id %q.", fid, f.SessionID)
			return nil
		}
		if r, err := tx.session(sid); err == nil && r == nil {
			c.problem("File %s belongs to session %s, which does not exist.", fid, sid)
		}
		if sessFiles.Get(pairKey(sid[:], fid)) == nil {
			c.problem("File %s has no entry in the session_files index.", fid)
		}
		hb, err := hex.DecodeString(f.Hash)
		if err != nil || len(hb) != sha256.Size {
			c.problem("File %s has a bad hash %q.", fid, f.Hash)
			return nil
		}
		if refs.Get(pairKey(hb, fid)) == nil {
			c.problem("File %s has no entry in the blob_refs index.", fid)
		}
		if f.From.Role == parley.RoleCustomer && custFiles.Get(pairKey(customerPrefix(f.CustomerID), fid)) == nil {
			c.problem("File %s uploaded by customer %q has no entry in the customer_files index.", fid, f.CustomerID)
		}
		if !checked[f.Hash] {
			checked[f.Hash] = true
			c.report.Blobs++
			if problem := verifyBlob(blobs, f.Hash, f.Size); problem != "" {
				c.problem("File %s (%q): %s", fid, f.Name, problem)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = sessFiles.ForEach(func(k, _ []byte) error {
		if len(k) != 2*idLen {
			c.problem("The session_files entry %x is malformed.", k)
			return nil
		}
		v := files.Get(k[idLen:])
		var f parley.FileRecord
		if v == nil || decode(v, &f) != nil {
			c.problem("The session_files entry %x points at a missing file.", k)
			return nil
		}
		var sid ulid.ULID
		copy(sid[:], k)
		if f.SessionID != sid.String() {
			c.problem("The session_files entry %x does not match file %s of session %s.", k, f.ID, f.SessionID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return refs.ForEach(func(k, _ []byte) error {
		if len(k) != sha256.Size+idLen {
			c.problem("The blob_refs entry %x is malformed.", k)
			return nil
		}
		v := files.Get(k[sha256.Size:])
		var f parley.FileRecord
		if v == nil || decode(v, &f) != nil {
			c.problem("The blob_refs entry %x points at a missing file.", k)
			return nil
		}
		if f.Hash != hex.EncodeToString(k[:sha256.Size]) {
			c.problem("The blob_refs entry %x does not match file %s's hash.", k, f.ID)
		}
		return nil
	})
}

// verifyBlob reads a blob and returns what is wrong with it, or "".
func verifyBlob(blobs *Blobs, hash string, size int64) string {
	f, err := blobs.Open(hash)
	if parley.ErrorCode(err) == parley.ENotFound {
		return "its blob " + hash + " is missing."
	} else if err != nil {
		return "its blob cannot be opened: " + err.Error() + "."
	}
	defer f.Close()
	sum := sha256.New()
	n, err := io.Copy(sum, f)
	switch {
	case err != nil:
		return "its blob cannot be read: " + err.Error() + "."
	case n != size:
		return "its blob holds " + itoa(n) + " bytes instead of " + itoa(size) + "."
	case !bytes.Equal(sum.Sum(nil), mustHex(hash)):
		return "its blob's SHA-256 is not " + hash + "."
	}
	return ""
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}
