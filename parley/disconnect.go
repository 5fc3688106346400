package parley

// DisconnectReason says why the chat core asks the transport to close a
// client's connections. It is transport-neutral: the transport maps each
// reason to its own close code and text.
type DisconnectReason string

// Disconnect reasons.
const (
	// ReasonDisabled means an operator disabled the agent's account.
	ReasonDisabled DisconnectReason = "disabled"
	// ReasonSignedOut means the agent's tokens were revoked (a password
	// change or parley agent logout): it must sign in again.
	ReasonSignedOut DisconnectReason = "signed_out"
)
