package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"

	gomail "github.com/wneessen/go-mail"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// smtpConfig is a parsed --smtp-url.
type smtpConfig struct {
	host     string
	port     int
	user     string
	pass     string
	tls      gomail.TLSPolicy
	implicit bool // smtps: TLS from the first byte
}

// parseSMTPURL parses smtp://user:pass@host:587 (STARTTLS required),
// smtps://user:pass@host:465 (implicit TLS) and smtp+insecure://host:25
// or smtp://host:25?starttls=none (no TLS at all).
func parseSMTPURL(raw string) (*smtpConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	c := &smtpConfig{host: u.Hostname(), tls: gomail.TLSMandatory}
	defPort := 587
	switch u.Scheme {
	case "smtp":
	case "smtps":
		c.implicit, defPort = true, 465
	case "smtp+insecure":
		c.tls = gomail.NoTLS
	default:
		return nil, fmt.Errorf("scheme must be smtp, smtps or smtp+insecure, not %q", u.Scheme)
	}
	switch q := u.Query().Get("starttls"); q {
	case "", "required":
	case "none":
		if c.implicit {
			return nil, fmt.Errorf("starttls=none makes no sense with smtps")
		}
		c.tls = gomail.NoTLS
	case "opportunistic":
		c.tls = gomail.TLSOpportunistic
	default:
		return nil, fmt.Errorf("starttls must be required, opportunistic or none, not %q", q)
	}
	if c.host == "" {
		return nil, fmt.Errorf("no host")
	}
	c.port = defPort
	if p := u.Port(); p != "" {
		if c.port, err = strconv.Atoi(p); err != nil || c.port <= 0 || c.port > 65535 {
			return nil, fmt.Errorf("bad port %q", p)
		}
	}
	if u.User != nil {
		c.user = u.User.Username()
		c.pass, _ = u.User.Password()
	}
	return c, nil
}

// validAddress accepts a bare e-mail address (no display name).
func validAddress(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 {
		return parley.Errorf(parley.EBadRequest, "%q is not a valid e-mail address.", truncate(s, 64))
	}
	return nil
}

// ValidAddress checks an address a customer gave: a bare address of at
// most 254 bytes, as net/mail parses it.
func ValidAddress(s string) error { return validAddress(s) }

// mailPayload is a mail job's payload.
type mailPayload struct {
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Body    string   `json:"body"`
}

// sendMail sends a mail job through the SMTP server. The job id becomes
// the Message-ID, so a mail sent twice (after a crash) can be recognised.
func (s *Service) sendMail(ctx context.Context, j *storage.Job) error {
	if s.smtp == nil {
		return fmt.Errorf("no SMTP server configured (--smtp-url)")
	}
	var p mailPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return fmt.Errorf("%w: bad mail payload: %v", errDrop, err)
	}
	m := gomail.NewMsg()
	if err := m.From(s.cfg.SMTPFrom); err != nil {
		return fmt.Errorf("%w: from: %v", errDrop, err)
	}
	if err := m.To(p.To...); err != nil {
		return fmt.Errorf("%w: to: %v", errDrop, err)
	}
	m.Subject(p.Subject)
	m.SetMessageIDWithValue(j.ID + "@parley")
	m.SetGenHeader("X-Parley-Delivery", j.ID)
	m.SetBodyString(gomail.TypeTextPlain, p.Body)
	opts := []gomail.Option{gomail.WithPort(s.smtp.port), gomail.WithTimeout(s.cfg.AttemptTimeout)}
	if s.smtp.implicit {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(s.smtp.tls))
	}
	if s.smtp.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.smtp.user), gomail.WithPassword(s.smtp.pass))
	}
	c, err := gomail.NewClient(s.smtp.host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("smtp %s: %w", net.JoinHostPort(s.smtp.host, strconv.Itoa(s.smtp.port)), err)
	}
	return nil
}

// enqueueMail stores a mail job in tx.
func (s *Service) enqueueMail(tx *storage.Tx, sessionID, idem string, p mailPayload) (*storage.Job, bool, error) {
	p.Subject = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, p.Subject)
	body, err := json.Marshal(p)
	if err != nil {
		return nil, false, err
	}
	j := &storage.Job{
		Kind: storage.JobMail, IdemKey: idem, SessionID: sessionID, Target: strings.Join(p.To, ","),
		Summary: p.Subject, Payload: body,
	}
	dup, err := tx.Enqueue(j)
	return j, dup, err
}

// MaxTranscriptMails bounds the transcript mails of one session (within
// one run of the server), so a visitor cannot use Parley to send many
// mails of its own words to addresses it chooses.
const MaxTranscriptMails = 5

// AllowTranscript counts a transcript mail of a session and reports
// whether it is within MaxTranscriptMails; undo gives the count back
// (for a request that turned out to be a duplicate or failed).
func (s *Service) AllowTranscript(sessionID string) (ok bool, undo func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mailCounts == nil || len(s.mailCounts) > 100000 {
		s.mailCounts = make(map[string]int)
	}
	if s.mailCounts[sessionID] >= MaxTranscriptMails {
		return false, func() {}
	}
	s.mailCounts[sessionID]++
	return true, func() {
		s.mu.Lock()
		s.mailCounts[sessionID]--
		s.mu.Unlock()
	}
}

// EnqueueTranscript stores, in tx, a mail of the session's transcript (as
// the customer sees it: no whispers) to the address to. idem makes the
// request idempotent: a second call with the same key stores nothing and
// returns the first job with dup true. Mail must be configured.
func (s *Service) EnqueueTranscript(tx *storage.Tx, sessionID, to, idem string) (job *storage.Job, dup bool, err error) {
	if !s.MailEnabled() {
		return nil, false, parley.Errorf(parley.EUnavailable, "E-mail is not configured on this server.")
	}
	if err := validAddress(to); err != nil {
		return nil, false, err
	}
	rec, err := tx.Session(sessionID)
	if err != nil {
		return nil, false, err
	}
	last, err := tx.LastSeq(sessionID)
	if err != nil {
		return nil, false, err
	}
	var events []parley.Event
	if err := tx.EachEvent(sessionID, true, func(ev parley.Event) error { events = append(events, ev); return nil }); err != nil {
		return nil, false, err
	}
	var buf bytes.Buffer
	buf.WriteString("Here is the transcript of your conversation.\n\n")
	s.cfg.TranscriptText(&buf, rec.Session(last), events)
	return s.enqueueMail(tx, sessionID, idem, mailPayload{
		To: []string{to}, Subject: "Transcript of your conversation " + sessionID, Body: buf.String(),
	})
}

// EnqueueLeftMessage stores, in tx, the team's notification of a message
// a customer left while no agent was available (once per session), if
// --notify-email and mail are configured; otherwise it does nothing.
func (s *Service) EnqueueLeftMessage(tx *storage.Tx, sessionID string) (*storage.Job, error) {
	if !s.MailEnabled() || s.cfg.NotifyEmail == "" {
		return nil, nil
	}
	rec, err := tx.Session(sessionID)
	if err != nil {
		return nil, err
	}
	var msgs []string
	err = tx.EachEvent(sessionID, true, func(ev parley.Event) error {
		if ev.Kind == parley.KindMessage && ev.From.Role == parley.RoleCustomer {
			msgs = append(msgs, ev.Text)
		}
		return nil
	})
	if err != nil || len(msgs) == 0 {
		return nil, err
	}
	var b strings.Builder
	name := rec.Customer.Name
	if name == "" {
		name = rec.Customer.ID
	}
	fmt.Fprintf(&b, "%s <%s> left a message while no agent was available.\n\n", name, rec.Customer.Email)
	for _, m := range msgs {
		b.WriteString(m)
		b.WriteString("\n\n")
	}
	fmt.Fprintf(&b, "The conversation %s waits in the queue; reply in the console or by mail to %s.\n", sessionID, rec.Customer.Email)
	j, _, err := s.enqueueMail(tx, sessionID, "left:"+sessionID, mailPayload{
		To: []string{s.cfg.NotifyEmail}, Subject: "Message from " + name, Body: b.String(),
	})
	return j, err
}

// plainTranscript is the default TranscriptText: one line per event.
func plainTranscript(w io.Writer, s parley.Session, events []parley.Event) {
	fmt.Fprintf(w, "Session %s, started %s\n\n", s.ID, s.CreatedAt.Format(parley.TimeLayout))
	for _, ev := range events {
		who := ev.From.Name
		if who == "" {
			who = ev.From.Role
		}
		if ev.Kind == parley.KindMessage {
			fmt.Fprintf(w, "[%s] %s: %s\n", ev.At.Format(parley.TimeLayout), who, ev.Text)
		} else {
			fmt.Fprintf(w, "[%s] %s (%s)\n", ev.At.Format(parley.TimeLayout), ev.Kind, who)
		}
	}
}
