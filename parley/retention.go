package parley

// Default retention windows.
const (
	// DefaultRetentionDays is how long ended conversations are kept.
	DefaultRetentionDays = 90
	// DefaultCustomerWindowDays is how far back customers see sessions.
	DefaultCustomerWindowDays = 14
)

// Hold is a legal hold: while it exists, none of the customer's sessions
// are purged, whatever their age.
type Hold struct {
	CustomerID string `json:"customer_id"`
	Reason     string `json:"reason,omitempty"`
	CreatedAt  Time   `json:"created_at"`
}

// Audit actions.
const (
	AuditPurge   = "purge"
	AuditErase   = "erase"
	AuditHoldAdd = "hold.add"
	AuditHoldRm  = "hold.rm"
	AuditEnd     = "session.end"
)

// AuditEntry records one data-management action. It never holds message
// text.
type AuditEntry struct {
	ID         string `json:"id"`
	At         Time   `json:"at"`
	Action     string `json:"action"`
	Actor      string `json:"actor,omitempty"` // e.g. "janitor", "cli"
	CustomerID string `json:"customer_id,omitempty"`
	SessionID  string `json:"session_id,omitempty"`
	Sessions   int    `json:"sessions,omitempty"`
	Events     int    `json:"events,omitempty"`
	Bytes      int64  `json:"bytes,omitempty"`
	Detail     string `json:"detail,omitempty"`
}
