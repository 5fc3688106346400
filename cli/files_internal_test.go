package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSizeValue(t *testing.T) {
	for in, want := range map[string]int64{
		"10MiB": 10 << 20, "10 MB": 10 << 20, "512k": 512 << 10, "1048576": 1 << 20, "1.5KiB": 1536, "0": 0, "2G": 2 << 30,
	} {
		var n int64
		require.NoError(t, newSizeValue(0, &n).Set(in), in)
		assert.Equal(t, want, n, in)
	}
	for _, bad := range []string{"", "ten", "-1", "10XB", "1e9MiB"} {
		var n int64
		assert.Error(t, newSizeValue(0, &n).Set(bad), bad)
	}
	var n int64
	assert.Equal(t, "10MiB", newSizeValue(10<<20, &n).String())
}
