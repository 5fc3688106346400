package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/httpapi"
)

// pngBytes returns a small valid PNG.
func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 255, A: 255})
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

// upload posts content as the multipart field "file" and returns the
// status and the decoded answer.
func (h *harness) upload(path, token, name string, content []byte) (int, frame) {
	h.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	require.NoError(h.t, mw.WriteField("note", "ignored"))
	fw, err := mw.CreateFormFile("file", name)
	require.NoError(h.t, err)
	_, _ = fw.Write(content)
	require.NoError(h.t, mw.Close())
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	var out frame
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// fileSession starts a customer's session and has agent Ann take it; it
// returns the session id, the customer's token and both connections.
func fileSession(t *testing.T, h *harness, customerID string) (sid, ctok, atok string, cust, ann *client) {
	t.Helper()
	ctok = h.customerToken(customerID)
	cust = h.dial("/v1/customer/ws", nil)
	cust.send(frame{"type": "hello", "token": ctok})
	cust.expect("welcome")
	cust.send(frame{"type": "start", "req": "s"})
	sid = cust.expectRe("s").obj("session").str("id")
	h.putAgent("Ann", 2)
	atok = h.login("Ann")
	ann, _ = h.agentConn(atok)
	ann.send(frame{"type": "accept", "session_id": sid, "req": "a"})
	ann.expectRe("a")
	cust.expectEvent("agent_joined")
	return sid, ctok, atok, cust, ann
}

// TestFilesBothWays uploads an image as the customer and a text file as
// the agent, and checks the acknowledgement, the file events both sides
// receive with their seqs, the history, the downloads and their headers,
// and who may download.
func TestFilesBothWays(t *testing.T) {
	h := newHarness(t)
	sid, ctok, atok, cust, ann := fileSession(t, h, "u-files")
	img := pngBytes(t)

	code, f := h.upload("/v1/customer/sessions/"+sid+"/files", ctok, `..\..\evil/pho`+"\u202e"+`to.png`, img)
	require.Equal(t, http.StatusCreated, code, "%v", f)
	assert.Equal(t, "image/png", f.str("content_type"))
	assert.Equal(t, "photo.png", f.str("name"))
	assert.Equal(t, len(img), f.num("size"))
	fid := f.str("id")
	require.NotEmpty(t, fid)
	for _, c := range []*client{cust, ann} {
		ev := c.expectEvent("file")
		assert.Equal(t, "customer", ev.obj("from").str("role"))
		assert.Equal(t, fid, ev.obj("file").str("id"))
		assert.Equal(t, "photo.png", ev.obj("file").str("name"))
		assert.Equal(t, 3, ev.num("seq")) // queued, agent_joined, file
	}

	code, g := h.upload("/v1/agent/sessions/"+sid+"/files", atok, "notes.txt", []byte("Grüße, Ann\n"))
	require.Equal(t, http.StatusCreated, code, "%v", g)
	assert.Equal(t, "text/plain; charset=utf-8", g.str("content_type"))
	for _, c := range []*client{cust, ann} {
		ev := c.expectEvent("file")
		assert.Equal(t, "agent", ev.obj("from").str("role"))
		assert.Equal(t, "Ann", ev.obj("from").str("name"))
		assert.Equal(t, 4, ev.num("seq"))
	}

	// Downloads: the image inline, the text as an attachment, both inert.
	code, body, hdr := h.get("/v1/customer/sessions/"+sid+"/files/"+fid, ctok)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, img, body)
	assert.Equal(t, "image/png", hdr.Get("Content-Type"))
	assert.Equal(t, "nosniff", hdr.Get("X-Content-Type-Options"))
	assert.Equal(t, "sandbox; default-src 'none'", hdr.Get("Content-Security-Policy"))
	assert.Equal(t, `inline; filename=photo.png`, hdr.Get("Content-Disposition"))
	assert.Equal(t, len(img), atoi(t, hdr.Get("Content-Length")))
	code, body, hdr = h.get("/v1/agent/sessions/"+sid+"/files/"+g.str("id"), atok)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "Grüße, Ann\n", string(body))
	assert.Equal(t, "attachment; filename=notes.txt", hdr.Get("Content-Disposition"))
	code, _, _ = h.get("/v1/customer/sessions/"+sid+"/files/"+g.str("id"), atok) // agents read history there too
	assert.Equal(t, http.StatusOK, code)

	// Nobody else: another customer, a customer on the agent route, a
	// file id of another session, no token.
	code, _, _ = h.get("/v1/customer/sessions/"+sid+"/files/"+fid, h.customerToken("u-other"))
	assert.Equal(t, http.StatusNotFound, code)
	code, _, _ = h.get("/v1/agent/sessions/"+sid+"/files/"+fid, ctok)
	assert.Equal(t, http.StatusForbidden, code)
	code, _, _ = h.get("/v1/customer/sessions/"+sid+"/files/"+sid, ctok)
	assert.Equal(t, http.StatusNotFound, code)
	code, _, _ = h.get("/v1/customer/sessions/"+sid+"/files/"+fid, "")
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = h.upload("/v1/agent/sessions/"+sid+"/files", ctok, "x.txt", []byte("x"))
	assert.Equal(t, http.StatusForbidden, code)
	code, f = h.upload("/v1/customer/sessions/"+sid+"/files", atok, "x.txt", []byte("x"))
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, f.str("message"), "/v1/agent/sessions/")

	// History and transcripts list the files.
	code, body, _ = h.get("/v1/customer/sessions/"+sid+"/events", ctok)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(body), `"kind":"file"`)
	assert.Contains(t, string(body), `"name":"photo.png"`)
	code, body, _ = h.get("/v1/customer/sessions/"+sid+"/transcript?format=txt", ctok)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(body), "shared a file: photo.png (")
	assert.Contains(t, string(body), "Ann shared a file: notes.txt (13 bytes, text/plain; charset=utf-8)")

	// The blob is on disk under its SHA-256 before the answer came.
	rep, err := h.db.Check()
	require.NoError(t, err)
	assert.Empty(t, rep.Problems)
	assert.Equal(t, 2, rep.Files)
}

// TestFilesRefused checks the refusals: a type off the allow-list, a file
// over the size limit, a customer over the quota, an agent not in the
// session, an ended session, a body that is not multipart. Nothing is
// stored for them.
func TestFilesRefused(t *testing.T) {
	h := newHarness(t)
	h.hubConfig = func(c *chat.Config) { c.MaxFileSize = 1000; c.CustomerFileQuota = 1500 }
	h.restart()
	sid, ctok, _, cust, _ := fileSession(t, h, "u-refused")
	url := "/v1/customer/sessions/" + sid + "/files"

	code, f := h.upload(url, ctok, "page.txt", []byte("<!doctype html><html><script>alert(1)</script></html>"))
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, f.str("message"), "text/html")
	code, f = h.upload(url, ctok, "big.txt", bytes.Repeat([]byte("a"), 1001))
	assert.Equal(t, http.StatusRequestEntityTooLarge, code)
	assert.Equal(t, "too_large", f.str("code"))
	code, _ = h.upload(url, ctok, "ok.txt", bytes.Repeat([]byte("b"), 1000))
	require.Equal(t, http.StatusCreated, code)
	cust.expectEvent("file")
	code, f = h.upload(url, ctok, "over-quota.txt", bytes.Repeat([]byte("c"), 600))
	assert.Equal(t, http.StatusRequestEntityTooLarge, code)
	assert.Contains(t, f.str("message"), "quota")

	h.putAgent("Bob", 2)
	code, _ = h.upload("/v1/agent/sessions/"+sid+"/files", h.login("Bob"), "x.txt", []byte("not in it"))
	assert.Equal(t, http.StatusForbidden, code)

	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+url, strings.NewReader("plain"))
	req.Header.Set("Authorization", "Bearer "+ctok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	cust.send(frame{"type": "end", "req": "e"})
	cust.expectEvent("ended")
	code, _ = h.upload(url, ctok, "late.txt", []byte("too late"))
	assert.Equal(t, http.StatusConflict, code)

	// One file stored, one blob on disk, no temp files left.
	rep, err := h.db.Check()
	require.NoError(t, err)
	assert.Empty(t, rep.Problems)
	assert.Equal(t, 1, rep.Files)
	dir := h.db.Blobs().Dir()
	temps, err := os.ReadDir(filepath.Join(dir, "temp"))
	require.NoError(t, err)
	assert.Empty(t, temps)
	var blobs []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			blobs = append(blobs, p)
		}
		return err
	}))
	assert.Len(t, blobs, 1, "refused blobs are collected: %q", blobs)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, r := range s {
		require.True(t, r >= '0' && r <= '9', "not a number: %q", s)
		n = n*10 + int(r-'0')
	}
	return n
}

// blobCount counts the blobs on disk.
func blobCount(t *testing.T, h *harness) int {
	t.Helper()
	n := 0
	require.NoError(t, filepath.WalkDir(h.db.Blobs().Dir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, string(filepath.Separator)+"temp"+string(filepath.Separator)) {
			n++
		}
		return err
	}))
	return n
}

// TestFilesEraseAndPurge shares the same bytes in two customers' sessions:
// erasing the first customer keeps the blob the second still uses;
// purging the second's ended session removes it. check stays clean.
func TestFilesEraseAndPurge(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	same := []byte("the same bytes in two sessions\n")
	sid1, tok1, _, c1, _ := fileSession(t, h, "u-erase-1")
	code, _ := h.upload("/v1/customer/sessions/"+sid1+"/files", tok1, "a.txt", same)
	require.Equal(t, http.StatusCreated, code)
	c1.expectEvent("file")
	tok2 := h.customerToken("u-erase-2")
	c2 := h.dial("/v1/customer/ws", nil)
	c2.send(frame{"type": "hello", "token": tok2})
	c2.expect("welcome")
	c2.send(frame{"type": "start", "req": "s"})
	sid2 := c2.expectRe("s").obj("session").str("id")
	code, f2 := h.upload("/v1/customer/sessions/"+sid2+"/files", tok2, "b.txt", same)
	require.Equal(t, http.StatusCreated, code)
	code, _ = h.upload("/v1/customer/sessions/"+sid2+"/files", tok2, "c.txt", []byte("only in two\n"))
	require.Equal(t, http.StatusCreated, code)
	require.Equal(t, 2, blobCount(t, h))

	res, err := h.admin.Erase(ctx, admin.EraseArgs{CustomerID: "u-erase-1"})
	require.NoError(t, err)
	require.Equal(t, 1, res.Sessions)
	require.Equal(t, 2, blobCount(t, h), "the shared blob stays for session 2")
	code, body, _ := h.get("/v1/customer/sessions/"+sid2+"/files/"+f2.str("id"), tok2)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, same, body)
	rep, err := h.db.Check()
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
	require.Equal(t, 2, rep.Files)

	c2.send(frame{"type": "end", "req": "e"})
	c2.expectEvent("ended")
	h.clock.advance(48 * time.Hour)
	pres, err := h.admin.Purge(ctx, admin.PurgeArgs{OlderThan: "1d"})
	require.NoError(t, err)
	require.Equal(t, 1, pres.Sessions)
	require.Equal(t, 0, blobCount(t, h))
	rep, err = h.db.Check()
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
	require.Zero(t, rep.Files)
}

// TestFilesStorageFault: while commits fail, an upload is refused with
// unavailable, and neither its record nor its blob is left behind; once
// the disk is back, the same upload is stored and acknowledged.
func TestFilesStorageFault(t *testing.T) {
	var broken atomic.Bool
	h := newFaultHarness(t, func() error {
		if broken.Load() {
			return errors.New("injected: disk full")
		}
		return nil
	})
	tok := h.customerToken("u-fault")
	cust, _ := h.customer("u-fault")
	cust.send(frame{"type": "start", "req": "s"})
	sid := cust.expectRe("s").obj("session").str("id")
	url := "/v1/customer/sessions/" + sid + "/files"

	broken.Store(true)
	code, f := h.upload(url, tok, "a.txt", []byte("while the disk is full\n"))
	assert.Equal(t, http.StatusServiceUnavailable, code, "%v", f)
	assert.Zero(t, blobCount(t, h), "the refused upload's blob is collected")

	broken.Store(false)
	code, f = h.upload(url, tok, "a.txt", []byte("while the disk is full\n"))
	require.Equal(t, http.StatusCreated, code, "%v", f)
	ev := cust.expectEvent("file")
	assert.Equal(t, f.str("id"), ev.obj("file").str("id"))
	assert.Equal(t, 1, blobCount(t, h))
	rep, err := h.db.Check()
	require.NoError(t, err)
	assert.Empty(t, rep.Problems)
	assert.Equal(t, 1, rep.Files)
}

// TestFilesUploadRateLimit: uploads are limited per customer and per agent
// (--uploads-per-minute); a refusal is 429 rate_limited with when to retry,
// leaves the other uploader alone, and is counted in the limits metric.
func TestFilesUploadRateLimit(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.Files.UploadsPerMinute = 2 }) // a burst of 1
	sid, ctok, atok, cust, _ := fileSession(t, h, "u-upload-rate")

	code, _ := h.upload("/v1/customer/sessions/"+sid+"/files", ctok, "one.txt", []byte("one"))
	require.Equal(t, http.StatusCreated, code)
	cust.expectEvent("file")
	code, f := h.upload("/v1/customer/sessions/"+sid+"/files", ctok, "two.txt", []byte("two"))
	assert.Equal(t, http.StatusTooManyRequests, code)
	assert.Equal(t, "rate_limited", f.str("code"))
	assert.Positive(t, f.num("retry_after_ms"))
	code, _ = h.upload("/v1/agent/sessions/"+sid+"/files", atok, "agent.txt", []byte("agent"))
	assert.Equal(t, http.StatusCreated, code, "the agent has a budget of its own")

	assert.Contains(t, scrape(t, h), `parley_limits_hit_total{limit="uploads_per_minute"} 1`)
}

// TestWelcomeTellsLimits: both welcomes carry the limits the server
// enforces, as configured, so a user interface can refuse too long a
// message or too large a file before sending it; and those are the limits
// enforced.
func TestWelcomeTellsLimits(t *testing.T) {
	h := newHarness(t)
	h.hubConfig = func(c *chat.Config) { c.MaxFileSize = 1000; c.MaxMessageChars = 50 }
	h.restart()
	h.putAgent("Lim", 2)
	_, aw := h.agentConn(h.login("Lim"))
	cust, cw := h.customer("u-limits")
	for who, w := range map[string]frame{"agent": aw, "customer": cw} {
		l := w.obj("limits")
		require.NotNil(t, l, "%s welcome %v", who, w)
		assert.EqualValues(t, 1000, l["max_file_size"], "%s", who)
		assert.EqualValues(t, 50, l["max_message_chars"], "%s", who)
	}

	cust.send(frame{"type": "start", "req": "s"})
	sid := cust.expectRe("s").obj("session").str("id")
	cust.send(frame{"type": "send", "session_id": sid, "text": strings.Repeat("x", 51), "client_msg_id": "m", "req": "long"})
	assert.Equal(t, "error", cust.expectRe("long").str("type"))
	code, _ := h.upload("/v1/customer/sessions/"+sid+"/files", h.customerToken("u-limits"), "big.txt", bytes.Repeat([]byte("a"), 1001))
	assert.Equal(t, http.StatusRequestEntityTooLarge, code)
}
