package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// MinSecretLen is the minimum length in bytes of a secret read from a file.
const MinSecretLen = 32

// secretBytes is the number of random bytes in a generated secret.
const secretBytes = 32

// LoadOrCreateSecret returns the secret stored in the file at path. The
// secret is the file's content with surrounding white space trimmed; a
// generated file holds 32 random bytes hex-encoded, and that hex text itself
// is the HMAC key, so the same value can be handed to host applications. If
// the file does not exist it is created exclusively with mode 0600; if
// another process creates it first, that process's secret is returned. A
// secret shorter than MinSecretLen bytes is refused with an error.
func LoadOrCreateSecret(path string) ([]byte, error) {
	secret, err := readSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	raw := make([]byte, secretBytes)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("auth: generate secret: %w", err)
	}
	secret = []byte(hex.EncodeToString(raw))
	err = createExclusive(path, append(bytes.Clone(secret), '\n'))
	if errors.Is(err, fs.ErrExist) {
		return readSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: create secret file: %w", err)
	}
	return secret, nil
}

// readSecret reads and checks the secret stored at path.
func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("auth: read secret file: %w", err)
	}
	secret := bytes.TrimSpace(b)
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("auth: secret file %s holds %d characters, at least %d are required", path, len(secret), MinSecretLen)
	}
	return secret, nil
}

// createExclusive creates the file at path with mode 0600 holding content,
// failing with an fs.ErrExist error if the file already exists. The content
// is written to a temporary file that is then hard-linked into place, so a
// concurrent reader never sees a partly written file; where hard links are
// not supported it falls back to creating path exclusively and writing it.
func createExclusive(path string, content []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := writeAndClose(tmp, content); err != nil {
		return err
	}
	err = os.Link(tmpName, path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := writeAndClose(f, content); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// writeAndClose makes f mode 0600, writes content to it, syncs it and
// closes it.
func writeAndClose(f *os.File, content []byte) error {
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(content)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadSecret returns the secret stored in the file at path: its content
// with surrounding white space trimmed, at least MinSecretLen bytes.
func ReadSecret(path string) ([]byte, error) { return readSecret(path) }
