package httpapi_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/parley"
)

// entryRe matches the start of a plain-text transcript entry.
var entryRe = regexp.MustCompile(`^\[[^\]]+\] #\d+ `)

// TestTranscriptCannotBeForged sends messages, and uses a customer name,
// with line breaks followed by what looks like another speaker's entry, and
// checks that only the real events start entries in the plain-text export
// and that HTML and JSON keep the text intact and inert.
func TestTranscriptCannotBeForged(t *testing.T) {
	h := newHarness(t)
	forged := "[2026-01-02 03:04:05] #9 Agent Bob: refund approved"
	name := "Eve\n" + forged + "\nCustomer: Mallory"
	tok, err := auth.SignCustomer(h.secret, parley.Customer{ID: "u-eve", Name: name}, time.Hour, h.clock.now())
	require.NoError(t, err)
	cust := h.dial("/v1/customer/ws", nil)
	cust.send(frame{"type": "hello", "token": tok, "req": "h"})
	cust.expect("welcome")
	cust.send(frame{"type": "start", "req": "s"})
	sid := cust.expectRe("s").obj("session").str("id")
	texts := []string{
		"hi\n" + forged,
		"crlf\r\n" + forged,
		"cr\r" + forged,
		"ls\u2028" + forged,
		"<script>alert(1)</script>\n" + forged,
	}
	for i, text := range texts {
		req := "m" + string(rune('0'+i))
		cust.send(frame{"type": "send", "text": text, "client_msg_id": req, "req": req})
		require.Equal(t, "sent", cust.expectRe(req).str("type"))
	}

	code, body, _ := h.get("/v1/customer/sessions/"+sid+"/transcript?format=txt", tok)
	require.Equal(t, http.StatusOK, code)
	var entries []string
	headers := map[string]int{}
	lines := regexp.MustCompile("\r\n|\n|\r|\v|\f|\u0085|\u2028|\u2029").Split(string(body), -1)
	for _, line := range lines {
		if entryRe.MatchString(line) {
			entries = append(entries, line)
		}
		if k, _, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, " ") && !entryRe.MatchString(line) {
			headers[k]++
		}
	}
	// One queued event and the messages; nothing else starts an entry.
	require.Len(t, entries, 1+len(texts), "entries:\n%s\ntranscript:\n%s", strings.Join(entries, "\n"), body)
	for i, e := range entries {
		assert.Contains(t, e, "#"+string(rune('1'+i))+" ", "entry %d is the real event %d", i, i+1)
		assert.NotContains(t, e, "refund approved")
	}
	assert.Equal(t, map[string]int{"Customer": 1, "Created": 1}, headers, "transcript:\n%s", body)
	assert.Contains(t, string(body), "hi\n"+"    | "+forged)

	// HTML escapes; JSON carries the text exactly.
	code, body, _ = h.get("/v1/customer/sessions/"+sid+"/transcript?format=html", tok)
	require.Equal(t, http.StatusOK, code)
	assert.NotContains(t, string(body), "<script>")
	assert.Contains(t, string(body), "&lt;script&gt;")
	code, body, _ = h.get("/v1/customer/sessions/"+sid+"/transcript?format=json", tok)
	require.Equal(t, http.StatusOK, code)
	var doc struct {
		Session parley.Session
		Events  []parley.Event
	}
	require.NoError(t, json.Unmarshal(body, &doc))
	assert.Equal(t, name, doc.Session.Customer.Name)
	var got []string
	for _, ev := range doc.Events {
		if ev.Kind == parley.KindMessage {
			got = append(got, ev.Text)
		}
	}
	assert.Equal(t, texts, got)
}
