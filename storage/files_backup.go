package storage

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// copyBlobs copies every blob a file record of this snapshot references
// into dir (created, laid out like the blob store), fsyncing each file and
// directory. Blobs are shared, so each is copied once.
func (tx *Tx) copyBlobs(src *Blobs, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("storage: backup blobs: %w", err)
	}
	refs := tx.optBucket(bucketBlobRefs)
	if refs != nil {
		last := ""
		c := refs.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) < 32 {
				continue
			}
			hash := hex.EncodeToString(k[:32])
			if hash == last {
				continue
			}
			last = hash
			if err := copyBlob(src, hash, dir); err != nil {
				return err
			}
		}
	}
	return syncDir(dir)
}

func copyBlob(src *Blobs, hash, dir string) error {
	in, err := src.Open(hash)
	if err != nil {
		return fmt.Errorf("storage: backup blob %s: %w", hash, err)
	}
	defer in.Close()
	shard := filepath.Join(dir, hash[:2])
	if err := os.MkdirAll(shard, 0o700); err != nil {
		return fmt.Errorf("storage: backup blobs: %w", err)
	}
	out, err := os.OpenFile(filepath.Join(shard, hash[2:]), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("storage: backup blobs: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return fmt.Errorf("storage: backup blob %s: %w", hash, err)
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return fmt.Errorf("storage: backup blob %s: %w", hash, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("storage: backup blob %s: %w", hash, err)
	}
	return syncDir(shard)
}
