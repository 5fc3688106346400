package httpapi

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestResolveClientIP: X-Forwarded-For counts only from trusted peers, and
// only the part trusted proxies wrote: what the client put on the left
// cannot choose its address.
func TestResolveClientIP(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.168.1.1"})
	require.NoError(t, err)
	for _, tc := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"203.0.113.1", []string{"1.2.3.4"}, "203.0.113.1"},                         // untrusted peer: header ignored
		{"10.0.0.5", []string{"198.51.100.7"}, "198.51.100.7"},                      // one proxy
		{"10.0.0.5", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},             // spoofed left part ignored
		{"10.0.0.5", []string{"6.6.6.6", "198.51.100.7, 10.0.0.9"}, "198.51.100.7"}, // two proxies, two headers
		{"192.168.1.1", []string{"10.0.0.3"}, "10.0.0.3"},                           // all trusted: leftmost
		{"10.0.0.5", []string{"garbage, 198.51.100.7"}, "198.51.100.7"},
		{"10.0.0.5", []string{"198.51.100.7, garbage"}, "10.0.0.5"},
		{"10.0.0.5", nil, "10.0.0.5"},
	} {
		assert.Equal(t, tc.want, resolveClientIP(tc.peer, tc.xff, trusted), "%s %v", tc.peer, tc.xff)
	}
	_, err = ParseTrustedProxies([]string{"not-a-network"})
	assert.Error(t, err)
}

// TestKeyedLimiterForgetsOnlyTheOldest: a full table forgets its least
// recently used key, one at a time; it is never wiped, so flooding it with
// new keys does not give every throttled key a fresh burst.
func TestKeyedLimiterForgetsOnlyTheOldest(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	k := newKeyedLimiter(time.Minute, 1, 100)
	for i := range 100 {
		r, _ := k.take(fmt.Sprint("addr-", i), now)
		require.NotNil(t, r)
	}
	// All 100 are throttled; 10 new keys push out the 10 oldest only.
	for i := range 10 {
		r, _ := k.take(fmt.Sprint("new-", i), now)
		require.NotNil(t, r)
	}
	assert.Equal(t, 100, k.len())
	for i := 10; i < 100; i++ {
		r, wait := k.take(fmt.Sprint("addr-", i), now)
		assert.Nil(t, r, "addr-%d must still be throttled", i)
		assert.Positive(t, wait)
	}
	for i := range 10 {
		r, _ := k.take(fmt.Sprint("addr-", i), now)
		assert.NotNil(t, r, "addr-%d was among the least recently used", i)
	}
}
