package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/notify"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

func init() {
	for name, cmd := range map[string]Command{
		"mail.ls":            adminArgs((*Admin).Mails),
		"webhook.add":        adminArgs((*Admin).AddWebhook),
		"webhook.ls":         adminNoArgs((*Admin).Webhooks),
		"webhook.rm":         adminArgs((*Admin).RemoveWebhook),
		"webhook.deliveries": adminArgs((*Admin).Deliveries),
		"apikey.add":         adminArgs((*Admin).AddAPIKey),
		"apikey.ls":          adminNoArgs((*Admin).APIKeys),
		"apikey.rm":          adminArgs((*Admin).RemoveAPIKey),
	} {
		adminCommands[name] = cmd
	}
}

// Audit actions of this file: who may post as connectors and where
// conversations are sent are security decisions worth a trace.
const (
	auditWebhookAdd = "webhook.add"
	auditWebhookRm  = "webhook.rm"
	auditAPIKeyAdd  = "apikey.add"
	auditAPIKeyRm   = "apikey.rm"
)

func audit(tx *storage.Tx, action, detail string) error {
	return tx.AppendAudit(&parley.AuditEntry{Action: action, Actor: "cli", Detail: detail})
}

// JobRow is an outbox job as listings show it.
type JobRow struct {
	ID            string      `json:"id"`
	Kind          string      `json:"kind"`
	State         string      `json:"state"`
	Target        string      `json:"target"`
	Summary       string      `json:"summary,omitempty"`
	Attempts      int         `json:"attempts"`
	NextAttemptAt parley.Time `json:"next_attempt_at,omitzero"`
	LastError     string      `json:"last_error,omitempty"`
	CreatedAt     parley.Time `json:"created_at"`
	DoneAt        parley.Time `json:"done_at,omitzero"`
}

func jobRow(j *storage.Job) JobRow {
	r := JobRow{
		ID: j.ID, Kind: j.Kind, State: j.State, Target: j.Target, Summary: j.Summary, Attempts: j.Attempts,
		LastError: j.LastError, CreatedAt: j.CreatedAt, DoneAt: j.DoneAt,
	}
	if j.State == storage.JobPending {
		r.NextAttemptAt = j.NextAttemptAt
	}
	return r
}

// JobsArgs filter mail.ls and webhook.deliveries.
type JobsArgs struct {
	// State is pending, sent or dead; empty for all.
	State string `json:"state,omitempty"`
	// Dead is short for State dead.
	Dead bool `json:"dead,omitempty"`
	// Webhook limits deliveries to one webhook.
	Webhook string `json:"webhook,omitempty"`
	// Limit bounds the rows; default 100.
	Limit int `json:"limit,omitempty"`
}

func (a *Admin) jobs(q storage.JobQuery, args JobsArgs) ([]JobRow, error) {
	q.State = args.State
	if args.Dead {
		q.State = storage.JobDead
	}
	switch q.State {
	case "", storage.JobPending, storage.JobSent, storage.JobDead:
	default:
		return nil, parley.Errorf(parley.EBadRequest, "state must be pending, sent or dead.")
	}
	q.Limit = args.Limit
	if q.Limit <= 0 {
		q.Limit = 100
	}
	var list []*storage.Job
	if err := a.db.View(func(tx *storage.Tx) (err error) { list, err = tx.Jobs(q); return }); err != nil {
		return nil, err
	}
	rows := make([]JobRow, len(list))
	for i, j := range list {
		rows[i] = jobRow(j)
	}
	return rows, nil
}

// Mails lists the mails of the outbox, newest first.
func (a *Admin) Mails(ctx context.Context, args JobsArgs) ([]JobRow, error) {
	return a.jobs(storage.JobQuery{Kind: storage.JobMail}, args)
}

// Deliveries lists webhook deliveries, newest first.
func (a *Admin) Deliveries(ctx context.Context, args JobsArgs) ([]JobRow, error) {
	return a.jobs(storage.JobQuery{Kind: storage.JobWebhook, Target: args.Webhook}, args)
}

// WebhookAddArgs are the arguments of webhook.add.
type WebhookAddArgs struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	// Secret signs deliveries; empty generates one, shown once.
	Secret string `json:"secret,omitempty"`
}

// WebhookRow is a webhook as listings show it; the secret only in the
// answer of webhook.add.
type WebhookRow struct {
	ID        string      `json:"id"`
	URL       string      `json:"url"`
	Events    []string    `json:"events"`
	Secret    string      `json:"secret,omitempty"`
	CreatedAt parley.Time `json:"created_at"`
}

// AddWebhook registers a URL for the given events.
func (a *Admin) AddWebhook(ctx context.Context, args WebhookAddArgs) (WebhookRow, error) {
	u, err := url.Parse(args.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(args.URL) > 2048 {
		return WebhookRow{}, parley.Errorf(parley.EBadRequest, "url must be an http or https URL.")
	}
	var events []string
	for _, e := range args.Events {
		for _, name := range strings.Split(e, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if !slices.Contains(notify.EventNames, name) {
				return WebhookRow{}, parley.Errorf(parley.EBadRequest, "Unknown event %q; events are %s.", name, strings.Join(notify.EventNames, ", "))
			}
			if !slices.Contains(events, name) {
				events = append(events, name)
			}
		}
	}
	if len(events) == 0 {
		return WebhookRow{}, parley.Errorf(parley.EBadRequest, "Name at least one event: %s.", strings.Join(notify.EventNames, ", "))
	}
	secret := args.Secret
	if secret == "" {
		if secret, err = randomToken("whsec_"); err != nil {
			return WebhookRow{}, err
		}
	} else if len(secret) < 16 || len(secret) > 256 {
		return WebhookRow{}, parley.Errorf(parley.EBadRequest, "secret must be 16 to 256 bytes long.")
	}
	now := a.now()
	h := &storage.Webhook{ID: parley.NewID(now), URL: args.URL, Events: events, Secret: secret, CreatedAt: parley.TimeOf(now)}
	err = a.db.Update(ctx, func(tx *storage.Tx) error {
		if err := tx.PutWebhook(h); err != nil {
			return err
		}
		return audit(tx, auditWebhookAdd, h.ID+" "+h.URL+" "+strings.Join(events, ","))
	})
	if err != nil {
		return WebhookRow{}, err
	}
	return WebhookRow{ID: h.ID, URL: h.URL, Events: h.Events, Secret: secret, CreatedAt: h.CreatedAt}, nil
}

// Webhooks lists the webhooks, oldest first, without their secrets.
func (a *Admin) Webhooks(ctx context.Context) ([]WebhookRow, error) {
	var list []*storage.Webhook
	if err := a.db.View(func(tx *storage.Tx) (err error) { list, err = tx.Webhooks(); return }); err != nil {
		return nil, err
	}
	rows := make([]WebhookRow, len(list))
	for i, h := range list {
		rows[i] = WebhookRow{ID: h.ID, URL: h.URL, Events: h.Events, CreatedAt: h.CreatedAt}
	}
	return rows, nil
}

// IDArgs name one webhook or API key.
type IDArgs struct {
	ID string `json:"id"`
}

// RemoveWebhook removes a webhook; its pending deliveries go dead.
func (a *Admin) RemoveWebhook(ctx context.Context, args IDArgs) (WebhookRow, error) {
	var h *storage.Webhook
	err := a.db.Update(ctx, func(tx *storage.Tx) (err error) {
		if h, err = tx.Webhook(args.ID); err != nil {
			return err
		}
		if err := tx.DeleteWebhook(args.ID); err != nil {
			return err
		}
		return audit(tx, auditWebhookRm, h.ID+" "+h.URL)
	})
	if err != nil {
		return WebhookRow{}, err
	}
	return WebhookRow{ID: h.ID, URL: h.URL, Events: h.Events, CreatedAt: h.CreatedAt}, nil
}

// APIKeyAddArgs are the arguments of apikey.add.
type APIKeyAddArgs struct {
	Name string `json:"name"`
}

// APIKeyRow is an API key as listings show it; Key only in the answer of
// apikey.add, the one time it is shown.
type APIKeyRow struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	Prefix    string      `json:"prefix"`
	Key       string      `json:"key,omitempty"`
	CreatedAt parley.Time `json:"created_at"`
}

// AddAPIKey issues a connector key. Only its hash is stored.
func (a *Admin) AddAPIKey(ctx context.Context, args APIKeyAddArgs) (APIKeyRow, error) {
	name := strings.TrimSpace(args.Name)
	if name == "" || len(name) > 64 || strings.ContainsAny(name, ": \t\n") {
		return APIKeyRow{}, parley.Errorf(parley.EBadRequest, "name is required: at most 64 bytes, no spaces or colons.")
	}
	key, err := randomToken("pk_")
	if err != nil {
		return APIKeyRow{}, err
	}
	now := a.now()
	k := &storage.APIKey{ID: parley.NewID(now), Name: name, Hash: chat.APIKeyHash(key), Prefix: key[:10], CreatedAt: parley.TimeOf(now)}
	err = a.db.Update(ctx, func(tx *storage.Tx) error {
		if err := tx.PutAPIKey(k); err != nil {
			return err
		}
		return audit(tx, auditAPIKeyAdd, k.ID+" "+k.Name)
	})
	if err != nil {
		return APIKeyRow{}, err
	}
	return APIKeyRow{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Key: key, CreatedAt: k.CreatedAt}, nil
}

// APIKeys lists the API keys, oldest first.
func (a *Admin) APIKeys(ctx context.Context) ([]APIKeyRow, error) {
	var list []*storage.APIKey
	if err := a.db.View(func(tx *storage.Tx) (err error) { list, err = tx.APIKeys(); return }); err != nil {
		return nil, err
	}
	rows := make([]APIKeyRow, len(list))
	for i, k := range list {
		rows[i] = APIKeyRow{ID: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt}
	}
	return rows, nil
}

// RemoveAPIKey revokes a key, named by id or name.
func (a *Admin) RemoveAPIKey(ctx context.Context, args IDArgs) (APIKeyRow, error) {
	var k *storage.APIKey
	err := a.db.Update(ctx, func(tx *storage.Tx) (err error) {
		if k, err = tx.DeleteAPIKey(args.ID); err != nil {
			return err
		}
		return audit(tx, auditAPIKeyRm, k.ID+" "+k.Name)
	})
	if err != nil {
		return APIKeyRow{}, err
	}
	return APIKeyRow{ID: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt}, nil
}

// randomToken returns prefix followed by 32 random bytes, base64url.
func randomToken(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}
