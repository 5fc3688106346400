package httpapi_test

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/parley"
)

// pdfText extracts a PDF's text with pdftotext (Debian's poppler-utils;
// .ci/run installs it), or skips the test when it is missing.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftotext (poppler-utils) is missing in CI; .ci/run installs it")
		}
		t.Skip("pdftotext (poppler-utils) is not installed: the PDF's text cannot be checked")
	}
	path := filepath.Join(t.TempDir(), "t.pdf")
	require.NoError(t, os.WriteFile(path, pdf, 0o600))
	out, err := exec.Command(bin, "-enc", "UTF-8", path, "-").Output()
	require.NoError(t, err)
	return string(out)
}

// TestTranscriptPDF renders a conversation in Greek, Cyrillic and
// accented Latin as a PDF for the customer and for the agent, and checks
// the text of both: the same entries as the HTML transcript, page
// numbers, the file event, and the whisper only in the agent's copy.
func TestTranscriptPDF(t *testing.T) {
	h := newHarness(t)
	tok, err := auth.SignCustomer(h.secret, parley.Customer{ID: "u-pdf", Name: "Zoë Ðorđević"}, time.Hour, h.clock.now())
	require.NoError(t, err)
	cust := h.dial("/v1/customer/ws", nil)
	cust.send(frame{"type": "hello", "token": tok})
	cust.expect("welcome")
	cust.send(frame{"type": "start", "req": "s"})
	sid := cust.expectRe("s").obj("session").str("id")
	h.putAgent("Ann", 2)
	atok := h.login("Ann")
	ann, _ := h.agentConn(atok)
	ann.send(frame{"type": "accept", "session_id": sid, "req": "a"})
	ann.expectRe("a")
	greek, cyrillic, latin := "Καλημέρα, χρειάζομαι βοήθεια", "Здравствуйте, мой заказ не пришёл", "Crème brûlée à façon"
	for i, text := range []string{greek, cyrillic, latin + "\nsecond line"} {
		req := "m" + string(rune('0'+i))
		cust.send(frame{"type": "send", "text": text, "client_msg_id": req, "req": req})
		require.Equal(t, "sent", cust.expectRe(req).str("type"))
	}
	ann.send(frame{"type": "send", "session_id": sid, "text": "Секрет: refund approved", "whisper": true, "req": "w"})
	require.Equal(t, "sent", ann.expectRe("w").str("type"))
	code, _ := h.upload("/v1/customer/sessions/"+sid+"/files", tok, "фото.png", pngBytes(t))
	require.Equal(t, http.StatusCreated, code)

	code, body, hdr := h.get("/v1/customer/sessions/"+sid+"/transcript?format=pdf", tok)
	require.Equal(t, http.StatusOK, code, "%s", body)
	assert.Equal(t, "application/pdf", hdr.Get("Content-Type"))
	assert.Equal(t, "nosniff", hdr.Get("X-Content-Type-Options"))
	require.True(t, bytes.HasPrefix(body, []byte("%PDF-")))
	assert.NotContains(t, string(body), "Секрет", "text is not stored in the clear (compressed, glyph ids)")
	_, agentPDF, _ := h.get("/v1/customer/sessions/"+sid+"/transcript?format=pdf", atok)
	require.True(t, bytes.HasPrefix(agentPDF, []byte("%PDF-")))

	// The same entries as the HTML transcript, in the PDF's text.
	code, html, _ := h.get("/v1/customer/sessions/"+sid+"/transcript?format=html", tok)
	require.Equal(t, http.StatusOK, code)
	text := pdfText(t, body)
	flat := strings.Join(strings.Fields(text), " ")
	for _, want := range []string{"Conversation " + sid, "Zoë Ðorđević", greek, cyrillic, latin, "second line",
		"Zoë Ðorđević shared a file: фото.png", "Ann joined", "Page 1 of 1"} {
		assert.Contains(t, flat, want)
	}
	assert.Contains(t, string(html), "shared a file: фото.png")
	assert.NotContains(t, text, "Секрет", "the customer's copy has no whisper")
	agentText := strings.Join(strings.Fields(pdfText(t, agentPDF)), " ")
	assert.Contains(t, agentText, "Ann (whisper, agents only): Секрет: refund approved")

	// Other customers get not_found, as for the other formats.
	code, _, _ = h.get("/v1/customer/sessions/"+sid+"/transcript?format=pdf", h.customerToken("u-else"))
	assert.Equal(t, http.StatusNotFound, code)
}

// TestTranscriptPDFPages checks page numbers over several pages.
func TestTranscriptPDFPages(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.SendRate, c.CommandRate = -1, -1 })
	tok := h.customerToken("u-pages")
	cust := h.dial("/v1/customer/ws", nil)
	cust.send(frame{"type": "hello", "token": tok})
	cust.expect("welcome")
	cust.send(frame{"type": "start", "req": "s"})
	sid := cust.expectRe("s").obj("session").str("id")
	for i := range 60 {
		req := "m" + strings.Repeat("x", i+1)
		cust.send(frame{"type": "send", "text": "Сообщение номер " + strings.Repeat("ω", 40), "client_msg_id": req, "req": req})
		require.Equal(t, "sent", cust.expectRe(req).str("type"))
	}
	code, body, _ := h.get("/v1/customer/sessions/"+sid+"/transcript?format=pdf", tok)
	require.Equal(t, http.StatusOK, code)
	text := strings.Join(strings.Fields(pdfText(t, body)), " ")
	var pages []string
	for _, m := range regexp.MustCompile(`Page (\d+) of (\d+)`).FindAllStringSubmatch(text, -1) {
		pages = append(pages, m[1]+"/"+m[2])
	}
	require.GreaterOrEqual(t, len(pages), 2, "61 entries take more than one page")
	for i, p := range pages {
		assert.Equal(t, strconv.Itoa(i+1)+"/"+strconv.Itoa(len(pages)), p, "page numbers run 1..N of N in order")
	}
}

// TestWriteTranscriptPDF renders without a server, for callers such as
// e-mail, and keeps the text.
func TestWriteTranscriptPDF(t *testing.T) {
	var buf bytes.Buffer
	s := parley.Session{ID: "01M8NPB0AEPGF8CEX2C28HW77T", State: parley.StateEnded, Customer: parley.CustomerRef{ID: "u-1", Name: "Ива"}}
	evs := []parley.Event{{Seq: 1, Kind: parley.KindMessage, From: parley.Participant{Role: parley.RoleCustomer, Name: "Ива"}, Text: "Γειά σου"}}
	require.NoError(t, httpapi.WriteTranscriptPDF(&buf, s, evs))
	text := strings.Join(strings.Fields(pdfText(t, buf.Bytes())), " ")
	assert.Contains(t, text, "Ива: Γειά σου")
	assert.Contains(t, text, "Page 1 of 1")
}
