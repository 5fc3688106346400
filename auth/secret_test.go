package auth

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadOrCreateSecretCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "customer.secret")
	secret, err := LoadOrCreateSecret(path)
	require.NoError(t, err)
	assert.Len(t, secret, 64)
	raw, err := hex.DecodeString(string(secret))
	require.NoError(t, err)
	assert.Len(t, raw, 32)

	fi, err := os.Stat(path)
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}
	content, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(secret), strings.TrimSpace(string(content)))

	again, err := LoadOrCreateSecret(path)
	require.NoError(t, err)
	assert.Equal(t, secret, again, "secret must be stable across calls")

	// No temporary files are left behind.
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "customer.secret", entries[0].Name())
}

func TestLoadOrCreateSecretDistinct(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateSecret(filepath.Join(dir, "a"))
	require.NoError(t, err)
	b, err := LoadOrCreateSecret(filepath.Join(dir, "b"))
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
}

func TestLoadOrCreateSecretReadsExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	const value = "my-host-app-shared-secret-of-40-chars!!!"
	require.NoError(t, os.WriteFile(path, []byte("  \n"+value+"\r\n\n"), 0o600))
	secret, err := LoadOrCreateSecret(path)
	require.NoError(t, err)
	assert.Equal(t, value, string(secret))
}

func TestLoadOrCreateSecretRejectsShort(t *testing.T) {
	for _, content := range []string{"", "\n", "abc", strings.Repeat("a", 31), " " + strings.Repeat("a", 31) + " \n"} {
		path := filepath.Join(t.TempDir(), "secret")
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		secret, err := LoadOrCreateSecret(path)
		require.Error(t, err, "%q", content)
		assert.Nil(t, secret)
		// The short file is left alone, not replaced.
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, content, string(got))
	}
	path := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("a", 32)), 0o600))
	secret, err := LoadOrCreateSecret(path)
	require.NoError(t, err)
	assert.Len(t, secret, 32)
}

func TestLoadOrCreateSecretErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadOrCreateSecret(filepath.Join(dir, "missing", "secret"))
	require.Error(t, err)
	_, err = LoadOrCreateSecret(dir) // a directory
	require.Error(t, err)
}

func TestLoadOrCreateSecretConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	const n = 16
	secrets := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			secrets[i], errs[i] = LoadOrCreateSecret(path)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, secrets[0], secrets[i])
	}
	onDisk, err := LoadOrCreateSecret(path)
	require.NoError(t, err)
	assert.Equal(t, secrets[0], onDisk)
}

func TestCreateExclusiveExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, createExclusive(path, []byte("first")))
	err := createExclusive(path, []byte("second"))
	require.ErrorIs(t, err, os.ErrExist)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "first", string(got))
}
