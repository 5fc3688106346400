package httpapi

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
)

// TestCloseMessageFits checks that a long close text is cut to what a
// close frame can carry, at a character boundary, rather than making the
// close frame unsendable.
func TestCloseMessageFits(t *testing.T) {
	d := disconnect{code: CloseUnauthorized, text: strings.Repeat("é", 100)}
	msg := d.closeMessage()
	assert.LessOrEqual(t, len(msg), 125)
	assert.True(t, utf8.Valid(msg[2:]))
	assert.Equal(t, CloseUnauthorized, int(msg[0])<<8|int(msg[1]))
	assert.Empty(t, disconnect{code: websocket.CloseNoStatusReceived}.closeMessage())
	assert.Equal(t, "64 KiB", byteSize(64<<10))
	assert.Equal(t, "1500 bytes", byteSize(1500))
}
