package httpapi

import (
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/parley-chat/parley/parley"
)

// This file is the one place where Parley's error codes and disconnect
// reasons meet the transports: HTTP statuses, WebSocket close codes and
// the texts of close frames.

// WebSocket close codes Parley uses. Codes below 4000 are the standard ones
// of RFC 6455; the 44xx codes mirror the HTTP status of the same meaning.
const (
	CloseNormal        = 1000
	CloseGoingAway     = 1001
	CloseMessageTooBig = 1009
	CloseInternalError = 1011
	CloseTryAgainLater = 1013
	CloseProtocolError = 4400
	CloseUnauthorized  = 4401
	CloseForbidden     = 4403
	CloseHelloTimeout  = 4408
	CloseRateLimited   = 4429
	CloseSlowConsumer  = 4508
)

// codeTable maps each error code to its HTTP status and to the WebSocket
// close code used when that error ends a connection.
var codeTable = map[string]struct {
	status int
	close  int
}{
	parley.EBadRequest:   {http.StatusBadRequest, CloseProtocolError},
	parley.EUnauthorized: {http.StatusUnauthorized, CloseUnauthorized},
	parley.EForbidden:    {http.StatusForbidden, CloseForbidden},
	parley.ENotFound:     {http.StatusNotFound, CloseProtocolError},
	parley.EConflict:     {http.StatusConflict, CloseProtocolError},
	parley.ERateLimited:  {http.StatusTooManyRequests, CloseRateLimited},
	parley.ETooLarge:     {http.StatusRequestEntityTooLarge, CloseMessageTooBig},
	parley.EUnavailable:  {http.StatusServiceUnavailable, CloseTryAgainLater},
	parley.EInternal:     {http.StatusInternalServerError, CloseInternalError},
}

// httpStatus returns the HTTP status for an error code.
func httpStatus(code string) int {
	if v, ok := codeTable[code]; ok {
		return v.status
	}
	return http.StatusInternalServerError
}

// disconnect is what the close frame ending a connection says.
type disconnect struct {
	code int
	text string
}

// Reasons the transport closes connections for on its own account, next
// to the chat core's parley.DisconnectReason values.
const (
	reasonNormal       parley.DisconnectReason = "normal"
	reasonShutdown     parley.DisconnectReason = "shutdown"
	reasonSlow         parley.DisconnectReason = "slow"
	reasonHelloTimeout parley.DisconnectReason = "hello_timeout"
	reasonTooLarge     parley.DisconnectReason = "too_large"
	reasonInternal     parley.DisconnectReason = "internal"
	reasonTokenExpired parley.DisconnectReason = "token_expired"
)

// disconnectFor returns the close frame for a reason. Texts that name a
// limit take it from the configuration.
func (s *Server) disconnectFor(r parley.DisconnectReason) disconnect {
	switch r {
	case reasonNormal:
		return disconnect{CloseNormal, ""}
	case reasonShutdown:
		return disconnect{CloseGoingAway, "server shutting down; reconnect and resume"}
	case reasonSlow:
		return disconnect{CloseSlowConsumer, "client too slow; reconnect and resume"}
	case reasonHelloTimeout:
		return disconnect{CloseHelloTimeout, fmt.Sprintf("no hello within %s", s.cfg.HelloTimeout)}
	case reasonTooLarge:
		return disconnect{CloseMessageTooBig, "frame exceeds " + byteSize(parley.MaxFrameBytes)}
	case parley.ReasonDisabled:
		return disconnect{CloseUnauthorized, "agent account disabled"}
	case parley.ReasonSignedOut:
		return disconnect{CloseUnauthorized, "signed out; sign in again"}
	case reasonTokenExpired:
		return disconnect{CloseUnauthorized, "token expired; sign in again"}
	}
	return disconnect{CloseInternalError, "internal error; reconnect and resume"}
}

// disconnectForError returns the close frame for an error that ends a
// connection, such as a failed hello: the close code of its error code,
// and its message.
func disconnectForError(err error) disconnect {
	code := CloseInternalError
	if v, ok := codeTable[parley.ErrorCode(err)]; ok {
		code = v.close
	}
	return disconnect{code, parley.ErrorMessage(err)}
}

// closeMessage encodes a close frame's payload. The text is cut to the
// 123 bytes a close frame can carry (at a character boundary), or the
// frame could not be sent at all.
func (d disconnect) closeMessage() []byte {
	const maxText = 123
	text := d.text
	if len(text) > maxText {
		text = text[:maxText]
		for len(text) > 0 && !utf8.ValidString(text) {
			text = text[:len(text)-1]
		}
	}
	return websocket.FormatCloseMessage(d.code, text)
}

// byteSize formats n bytes for people: "64 KiB", or "1500 bytes".
func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
