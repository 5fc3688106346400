package cli

import (
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/notify"
	"github.com/parley-chat/parley/storage"
)

// notifyOptions are the serve flags of mail, webhooks, customer context
// and connectors.
type notifyOptions struct {
	smtpURL       string
	smtpFrom      string
	notifyEmail   string
	contextURL    string
	connectorRate float64
}

func (o *notifyOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.smtpURL, "smtp-url", "", "mail server: smtp://user:pass@host:587 (STARTTLS required), smtps://… (TLS), smtp+insecure://… (no TLS); off when empty")
	f.StringVar(&o.smtpFrom, "smtp-from", "", "sender address of Parley's mails (required with --smtp-url)")
	f.StringVar(&o.notifyEmail, "notify-email", "", "address told by mail when a customer leaves a message while no agent is available")
	f.StringVar(&o.contextURL, "context-url", "", "URL of your service that answers a signed POST about a customer with JSON context for agents; off when empty")
	f.Float64Var(&o.connectorRate, "connector-rate", httpapi.DefaultConnectorRate, "requests per second one connector API key may make to POST /v1/connector/messages, twice that at once (0: no limit)")
}

// http sets the connector limit of an httpapi.Config: 0 on the command
// line lifts it; the burst is twice the rate.
func (o *notifyOptions) http(c httpapi.Config) httpapi.Config {
	c.ConnectorRate = unlimited(o.connectorRate)
	c.ConnectorBurst = max(int(2*o.connectorRate), 1)
	return c
}

// open starts the deliverer of the outbox (webhooks always; mail when
// --smtp-url is set). Context requests are signed with the customer token
// secret, which the business's service already holds.
func (o *notifyOptions) open(db *storage.DB, log *slog.Logger, customerSecret []byte) (*notify.Service, error) {
	return notify.Open(db, notify.Config{
		Logger:         log,
		SMTPURL:        o.smtpURL,
		SMTPFrom:       o.smtpFrom,
		NotifyEmail:    o.notifyEmail,
		ContextURL:     o.contextURL,
		ContextSecret:  customerSecret,
		TranscriptText: httpapi.WriteTranscript,
	})
}
