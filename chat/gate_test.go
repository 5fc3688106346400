package chat

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestGateHoldsPushesUntilOpened checks that frames sent to a gate before
// it opens arrive after the first frame, in order, and later ones pass.
func TestGateHoldsPushesUntilOpened(t *testing.T) {
	c := newFakeConn()
	g := newGate(c)
	g.Send([]byte(`{"type":"a"}`))
	g.Send([]byte(`{"type":"b"}`), []byte(`{"type":"c"}`))
	c.mu.Lock()
	assert.Empty(t, c.frames, "nothing passes a closed gate")
	c.mu.Unlock()
	g.open([]byte(`{"type":"welcome"}`))
	g.Send([]byte(`{"type":"d"}`))
	var got []string
	for range 5 {
		got = append(got, str(c.next(t), "type"))
	}
	assert.Equal(t, []string{"welcome", "a", "b", "c", "d"}, got)
}
