package parley

// WebSocket close codes Parley uses. Codes below 4000 are the standard ones
// of RFC 6455; the 44xx codes mirror the HTTP status of the same meaning.
const (
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

// Disconnect is a typed reason for the server closing a WebSocket
// connection. Resume tells the client whether reconnecting and resuming is
// expected to work.
type Disconnect struct {
	Code   int
	Reason string
	Resume bool
}

// Typed disconnect reasons. The reason text is sent in the close frame.
var (
	DisconnectShutdown     = Disconnect{CloseGoingAway, "server shutting down; reconnect and resume", true}
	DisconnectSlow         = Disconnect{CloseSlowConsumer, "client too slow; reconnect and resume", true}
	DisconnectHelloTimeout = Disconnect{CloseHelloTimeout, "no hello within 10 seconds", false}
	DisconnectTooLarge     = Disconnect{CloseMessageTooBig, "frame exceeds 64 KiB", true}
	DisconnectInternal     = Disconnect{CloseInternalError, "internal error; reconnect and resume", true}
	DisconnectDisabled     = Disconnect{CloseUnauthorized, "agent account disabled", false}
)

// DisconnectFor returns the disconnect reason for an error that ends a
// connection, such as a failed hello.
func DisconnectFor(err error) Disconnect {
	code := ErrorCode(err)
	return Disconnect{
		Code:   CloseCode(code),
		Reason: ErrorMessage(err),
		Resume: code == EUnavailable || code == EInternal,
	}
}
