package chat

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// TestPanicInSessionIsContained makes one session's worker panic and
// checks that the panic happened and was recovered, that the command that
// caused it got an internal error, and that the session, the other
// sessions and the hub keep working.
func TestPanicInSessionIsContained(t *testing.T) {
	h, _ := openHub(t)
	var panics atomic.Int64
	h.hooks.handle = func(batch []command) {
		if batch[0].text == "boom" {
			panics.Add(1)
			panic("boom")
		}
	}

	var recs []*recorder
	var clients []*Client
	for _, id := range []string{"a", "b"} {
		cl, rec := customer(t, h, id)
		startSession(t, h, cl, rec)
		recs, clients = append(recs, rec), append(clients, cl)
	}

	f := do(t, clients[0], recs[0], parley.Inbound{Type: parley.FrameSend, Text: "boom", ClientMsgID: "x"})
	assert.Equal(t, parley.FrameError, f.Type)
	assert.Equal(t, parley.EInternal, f.Code)
	assert.Equal(t, int64(1), panics.Load(), "the hook must have panicked once")

	// The same session still answers, and so does the other one.
	for i, cl := range clients {
		f := do(t, cl, recs[i], parley.Inbound{Type: parley.FrameSend, Text: "still here", ClientMsgID: "m"})
		assert.Equal(t, parley.FrameSent, f.Type, "after the panic, send answered %+v", f)
	}
	require.NoError(t, h.Ready())
	s := h.openSessionOf("a")
	require.NotNil(t, s)
	require.NoError(t, h.EndSession(context.Background(), s.id, parley.EndAdmin))
	assert.Equal(t, int64(1), panics.Load())
}
