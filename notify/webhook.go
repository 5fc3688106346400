package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// Webhook event names.
const (
	EventMessage         = "message"
	EventSessionStarted  = "session.started"
	EventSessionAssigned = "session.assigned"
	EventSessionEnded    = "session.ended"
	EventFile            = "file"
)

// EventNames lists the events a webhook may subscribe to.
var EventNames = []string{EventMessage, EventSessionStarted, EventSessionAssigned, EventSessionEnded, EventFile}

// Headers of a webhook delivery.
const (
	HeaderSignature = "Parley-Signature"
	HeaderDelivery  = "Parley-Delivery"
	HeaderEvent     = "Parley-Event"
)

// eventName returns the webhook event of a stored event, or "" for events
// webhooks do not carry (whispers among them: they are for agents only).
func eventName(ev parley.Event) string {
	switch {
	case ev.Whisper:
		return ""
	case ev.Kind == parley.KindMessage:
		return EventMessage
	case ev.Kind == parley.KindQueued && ev.Seq == 1:
		return EventSessionStarted
	case ev.Kind == parley.KindAgentJoined:
		return EventSessionAssigned
	case ev.Kind == parley.KindEnded:
		return EventSessionEnded
	case ev.Kind == "file":
		return EventFile
	}
	return ""
}

// WebhookBody is the JSON a webhook receives.
type WebhookBody struct {
	// ID is the delivery id, the same as the Parley-Delivery header: the
	// same on every attempt, so receivers drop repeats by it.
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	CreatedAt parley.Time    `json:"created_at"`
	Session   parley.Session `json:"session"`
	Event     parley.Event   `json:"event"`
}

// Sign returns the Parley-Signature header value of body at time t:
// t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by secret>.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a Parley-Signature header against body and secret, and
// that its time is within tolerance of now; receivers written in Go can
// use it as is.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("malformed signature header")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("signature timestamp out of tolerance")
	}
	want := Sign(secret, time.Unix(sec, 0), body)
	if !hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig)) {
		return errors.New("signature mismatch")
	}
	return nil
}

// Appended enqueues, in tx, a delivery to every webhook subscribed to the
// events stored in tx since the from-th (see storage.Tx.Appended). Called
// inside the transaction that stored the events, so a committed event
// always has its deliveries. It reports whether it enqueued any. A nil
// Service enqueues nothing.
func (s *Service) Appended(tx *storage.Tx, from int) (bool, error) {
	if s == nil {
		return false, nil
	}
	return EnqueueWebhooks(tx, from)
}

// EnqueueWebhooks is Appended without a running Service, for changes made
// while the server is stopped (admin's offline operations): the
// deliveries wait in the outbox for the next start.
func EnqueueWebhooks(tx *storage.Tx, from int) (bool, error) {
	if !tx.HasWebhooks() {
		return false, nil
	}
	evs := tx.Appended(from)
	if len(evs) == 0 {
		return false, nil
	}
	hooks, err := tx.Webhooks()
	if err != nil {
		return false, err
	}
	recs := make(map[string]parley.Session)
	queued := false
	for _, a := range evs {
		name := eventName(a.Event)
		if name == "" {
			continue
		}
		for _, h := range hooks {
			if !slices.Contains(h.Events, name) {
				continue
			}
			sess, ok := recs[a.SessionID]
			if !ok {
				rec, err := tx.Session(a.SessionID)
				if err != nil {
					return false, err
				}
				sess = rec.Session(a.Event.Seq)
				recs[a.SessionID] = sess
			}
			sess.LastSeq = a.Event.Seq
			id := parley.NewID(tx.Now())
			body, err := json.Marshal(WebhookBody{ID: id, Type: name, CreatedAt: parley.TimeOf(tx.Now()), Session: sess, Event: a.Event})
			if err != nil {
				return false, err
			}
			j := &storage.Job{
				ID: id, Kind: storage.JobWebhook, Group: "wh:" + h.ID + ":" + a.SessionID,
				IdemKey: "wh:" + h.ID + ":" + a.Event.ID, SessionID: a.SessionID, Target: h.ID,
				Summary: name + " " + a.SessionID + " #" + strconv.FormatUint(a.Event.Seq, 10), Payload: body,
			}
			if _, err := tx.Enqueue(j); err != nil {
				return false, err
			}
			queued = true
		}
	}
	return queued, nil
}

// maxResponseBytes bounds what is read of a receiver's answer.
const maxResponseBytes = 64 << 10

// postWebhook makes one webhook delivery. Any 2xx answer counts as
// delivered; anything else, or no answer, is retried.
func (s *Service) postWebhook(ctx context.Context, j *storage.Job) error {
	var h *storage.Webhook
	err := s.db.View(func(tx *storage.Tx) (err error) { h, err = tx.Webhook(j.Target); return })
	if parley.ErrorCode(err) == parley.ENotFound {
		return fmt.Errorf("%w: webhook %s was removed", errDrop, j.Target)
	} else if err != nil {
		return err
	}
	var typ struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(j.Payload, &typ)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(j.Payload))
	if err != nil {
		return fmt.Errorf("%w: %v", errDrop, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Parley-Webhook/1")
	req.Header.Set(HeaderDelivery, j.ID)
	req.Header.Set(HeaderEvent, typ.Type)
	req.Header.Set(HeaderSignature, Sign([]byte(h.Secret), s.now(), j.Payload))
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", h.URL, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("post %s: status %d", h.URL, resp.StatusCode)
	}
	return nil
}
