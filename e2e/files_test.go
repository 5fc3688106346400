package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/wsclient"
)

// writePNG writes a w×h PNG to dir/name and returns its path and bytes.
func writePNG(t *testing.T, dir, name string, w, h int) (string, []byte) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{R: uint8(40 + 200*x/w), G: uint8(80 + 120*y/h), B: 190, A: 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	return path, buf.Bytes()
}

// uploadHTTP uploads content as a Go client would and returns the file id.
func uploadHTTP(t *testing.T, url, token, name string, content []byte) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", name)
	require.NoError(t, err)
	_, _ = fw.Write(content)
	require.NoError(t, mw.Close())
	req, _ := http.NewRequest(http.MethodPost, url, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var f struct{ ID, Message string }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&f))
	require.Equal(t, http.StatusCreated, res.StatusCode, f.Message)
	return f.ID
}

// thumbShown is a JavaScript test that an image thumbnail of width w is
// loaded from a blob: URL in the messages matching sel.
func thumbShown(sel string, w int) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll(%s)).some(i => i.src.startsWith('blob:') && i.complete && i.naturalWidth === %d)`, js(sel), w)
}

// noTokenInURLs fails if any URL the tab requested carries a token.
func noTokenInURLs(t *testing.T, tb *tab, tokens ...string) {
	t.Helper()
	for _, u := range tb.requestedURLs() {
		for _, tok := range tokens {
			require.NotContains(t, u, tok, "a token leaked into a URL")
		}
	}
}

// TestWidgetFiles: the customer attaches an image in the widget and sees
// its thumbnail, the agent gets the file event; the agent's image shows
// as a thumbnail in the widget; a refused file gets a clear error; no
// token ever goes into a URL.
func TestWidgetFiles(t *testing.T) {
	srv := newServer(t)
	tb := newTab(t)
	dir := t.TempDir()
	token := srv.customerToken("u-files", "Fay")
	tb.do(chromedp.Navigate(srv.hostPage(token)), chromedp.WaitVisible(chromedp.CSS("#parley-launcher")))
	tb.do(chromedp.Click(chromedp.CSS("#parley-launcher")))
	tb.frameWaitVisible("#attach-btn")
	tb.frameSend("I have a photo of the damage")
	tb.waitBubble("I have a photo of the damage")
	sam, _ := srv.agentWS("Sam")
	sam.send(wsclient.Frame{"type": "status", "status": "available"})
	sid := sam.expect("assigned").Obj("session").Str("id")

	// Customer to agent: attach, upload, thumbnail on both ends.
	photo, photoBytes := writePNG(t, dir, "damage.png", 160, 90)
	tb.frameDo("#file-input", func(sel chromedp.CSS, in chromedp.QueryOption) chromedp.Action[chromedp.Void] {
		return chromedp.SetUploadFiles(sel, []string{photo}, in)
	})
	ev := sam.waitFor("the customer's file", isEvent("file", "")).Obj("event")
	require.Equal(t, "damage.png", ev.Obj("file").Str("name"))
	require.Equal(t, "image/png", ev.Obj("file").Str("content_type"))
	require.Equal(t, len(photoBytes), ev.Obj("file").Num("size"))
	tb.frameWaitJS(thumbShown("#log .msg.mine img.thumb", 160))

	// Agent to customer: the widget shows the agent's image.
	email, pw := srv.addAgent("Sam", 2)
	atok := srv.agentToken(email, pw)
	_, label := writePNG(t, dir, "label.png", 140, 100)
	uploadHTTP(t, srv.URL+"/v1/agent/sessions/"+sid+"/files", atok, "return-label.png", label)
	tb.frameWaitJS(thumbShown("#log .msg.agent img.thumb", 140))
	tb.screenshot("widget-files")

	// A refused file: the widget says why (and Chromium logs the 400).
	tb.allow("400 (Bad Request)")
	page := filepath.Join(dir, "page.html")
	require.NoError(t, os.WriteFile(page, []byte("<!doctype html><html><body><script>alert(1)</script></body></html>"), 0o600))
	tb.frameDo("#file-input", func(sel chromedp.CSS, in chromedp.QueryOption) chromedp.Action[chromedp.Void] {
		return chromedp.SetUploadFiles(sel, []string{page}, in)
	})
	tb.frameWaitText("#banner", "page.html was not sent: Files of type text/html are not accepted here.")
	noTokenInURLs(t, tb, token, atok)
}

// TestConsoleFiles: the agent attaches an image in the console and sees
// its thumbnail, the customer gets the file event; the customer's image
// shows as a thumbnail in the console; the PDF button downloads the
// transcript; no token ever goes into a URL.
func TestConsoleFiles(t *testing.T) {
	tb, srv := consoleSetup(t)
	dir := t.TempDir()
	email, password := srv.addAgent("Dana", 2)
	consoleSignIn(tb, srv.URL, email, password)
	consoleStatus(tb, "available")
	ctok := srv.customerToken("u-cf", "Cora")
	cust, _ := srv.customerWS(ctok)
	cust.send(wsclient.Frame{"type": "start", "req": "s"})
	sid := cust.expect("session").Obj("session").Str("id")
	tb.waitText("#convo-name", "Cora")
	sendAs(cust, "Here is my receipt.", "c-1")
	waitBubble(tb, "Here is my receipt.")

	// Customer to agent: the console shows the thumbnail.
	_, receipt := writePNG(t, dir, "receipt.png", 120, 160)
	uploadHTTP(t, srv.URL+"/v1/customer/sessions/"+sid+"/files", ctok, "receipt.png", receipt)
	tb.waitJS(thumbShown("#events .msg.customer img.thumb", 120))

	// Agent to customer: attach in the console.
	photo, _ := writePNG(t, dir, "how-to.png", 200, 110)
	tb.do(chromedp.SetUploadFiles(chromedp.ID("file-input"), []string{photo}))
	ev := cust.waitFor("the agent's file", func(f wsclient.Frame) bool {
		return isEvent("file", "")(f) && f.Obj("event").Obj("from").Str("role") == "agent"
	}).Obj("event")
	require.Equal(t, "how-to.png", ev.Obj("file").Str("name"))
	require.Equal(t, "Dana", ev.Obj("from").Str("name"))
	tb.waitJS(thumbShown("#events .msg.me img.thumb", 200))
	tb.screenshot("console-files")

	// The PDF transcript button downloads a PDF.
	downloads := t.TempDir()
	tb.downloadTo(downloads)
	tb.do(chromedp.Click(chromedp.ID("pdf-btn")))
	require.Equal(t, "transcript-"+sid+".pdf", waitPDF(t, downloads))
	// The token this tab holds is the agent's: that is the one that must
	// never appear in a URL (the customer's is checked too).
	atok := eval[string](tb, `sessionStorage.getItem('parley.console.token') || ''`)
	require.NotEmpty(t, atok)
	noTokenInURLs(t, tb, atok, ctok)
}

// waitPDF waits until a complete PDF is downloaded into dir and returns
// its name.
func waitPDF(t *testing.T, dir string) string {
	t.Helper()
	name, _ := awaitDownload(t, dir, "PDF", func(name string, b []byte) bool {
		return strings.HasSuffix(name, ".pdf") && bytes.HasPrefix(b, []byte("%PDF-")) && bytes.Contains(b, []byte("%%EOF"))
	})
	return name
}

// withSmallLimits sets a 2,000-byte file limit and 100-character messages.
func withSmallLimits(o *serverOptions) {
	o.hub = func(c *chat.Config) { c.MaxFileSize, c.MaxMessageChars = 2000, 100 }
}

// noUploads fails if the tab posted a file.
func noUploads(t *testing.T, tb *tab) {
	t.Helper()
	for _, u := range tb.requestedURLs() {
		require.False(t, strings.HasSuffix(u, "/files"), "the file was uploaded: %s", u)
	}
}

// TestFilesTooLargeRefusedBeforeUpload: the widget and the console learn
// the server's limits from welcome. A file over the size limit is refused
// with its size and the limit, without being uploaded (the server would
// cut the upload off, which browsers show as a dropped connection), and
// the composers take no more characters than a message may hold.
func TestFilesTooLargeRefusedBeforeUpload(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "scan.png")
	require.NoError(t, os.WriteFile(big, bytes.Repeat([]byte{0x89}, 5000), 0o600))

	t.Run("widget", func(t *testing.T) {
		srv := newServer(t, withSmallLimits)
		tb := newTab(t)
		tb.do(chromedp.Navigate(srv.hostPage(srv.customerToken("u-big", "Bea"))), chromedp.WaitVisible(chromedp.CSS("#parley-launcher")))
		tb.do(chromedp.Click(chromedp.CSS("#parley-launcher")))
		tb.frameWaitVisible("#attach-btn")
		tb.frameSend("Here comes a scan")
		tb.waitBubble("Here comes a scan")
		tb.frameWaitJS(`document.getElementById('msg').maxLength === 100`)
		tb.frameDo("#file-input", func(sel chromedp.CSS, in chromedp.QueryOption) chromedp.Action[chromedp.Void] {
			return chromedp.SetUploadFiles(sel, []string{big}, in)
		})
		tb.frameWaitText("#banner", "scan.png was not sent: it is 5 KB, and files may be at most 2 KB.")
		tb.screenshot("widget-file-too-large")
		noUploads(t, tb)
	})

	t.Run("console", func(t *testing.T) {
		tb, srv := consoleSetup(t, withSmallLimits)
		email, password := srv.addAgent("Lee", 2)
		consoleSignIn(tb, srv.URL, email, password)
		consoleStatus(tb, "available")
		cust, _ := srv.customerWS(srv.customerToken("u-big2", "Cal"))
		cust.send(wsclient.Frame{"type": "start", "req": "s"})
		cust.expect("session")
		tb.waitText("#convo-name", "Cal")
		tb.waitJS(`document.getElementById('reply').maxLength === 100`)
		tb.do(chromedp.SetUploadFiles(chromedp.ID("file-input"), []string{big}))
		tb.waitText("#toast", "scan.png was not sent: it is 5 KB, and files may be at most 2 KB.")
		noUploads(t, tb)
	})
}
