package httpapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/web"
)

// cspBase is the Content-Security-Policy of every page Parley serves; each
// page adds its frame-ancestors (and the demo page the widget's origin).
const cspBase = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"

// DemoTokenTTL is how long a demo customer token lasts.
const DemoTokenTTL = 2 * time.Hour

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	gz    []byte // gzipped body, nil when gzip does not pay
	ctype string
	etag  string
}

// assets maps URL paths to the embedded files of web.Static.
type assets map[string]*asset

// contentTypes are the types of the files the UI ships; anything else is
// served as application/octet-stream.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".json":  "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
	".mp3":   "audio/mpeg",
	".ogg":   "audio/ogg",
	".wav":   "audio/wav",
	".txt":   "text/plain; charset=utf-8",
}

// loadAssets reads every file of fsys once, with its ETag and gzipped form.
func loadAssets(fsys fs.FS) (assets, error) {
	out := assets{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			ctype = "application/octet-stream"
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, ctype: ctype, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		if compressible(ctype) && len(body) > 512 {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			_, _ = zw.Write(body)
			_ = zw.Close()
			if buf.Len() < len(body) {
				a.gz = buf.Bytes()
			}
		}
		urlPath := "/" + p
		if path.Base(p) == "index.html" {
			urlPath = strings.TrimSuffix(urlPath, "index.html")
		}
		out[urlPath] = a
		return nil
	})
	return out, err
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.HasPrefix(ctype, "application/json") ||
		strings.HasPrefix(ctype, "image/svg")
}

// webUI serves the browser UI: the landing page, the demo page, the
// widget loader, the widget frame and the console.
type webUI struct {
	cfg     *Config
	files   assets
	landing *template.Template
	demo    *template.Template
}

func newWebUI(cfg *Config) (*webUI, error) {
	files, err := loadAssets(web.Static)
	if err != nil {
		return nil, fmt.Errorf("web assets: %w", err)
	}
	landing, err := template.ParseFS(web.Pages, "landing.html")
	if err != nil {
		return nil, fmt.Errorf("landing page: %w", err)
	}
	demo, err := template.ParseFS(web.Pages, "demo.html")
	if err != nil {
		return nil, fmt.Errorf("demo page: %w", err)
	}
	return &webUI{cfg: cfg, files: files, landing: landing, demo: demo}, nil
}

// securityHeaders sets the headers every UI response carries.
func securityHeaders(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// frameAncestors is the frame-ancestors source list for a request's page.
func (ui *webUI) frameAncestors(r *http.Request, urlPath string) string {
	if !strings.HasPrefix(urlPath, "/frame/") {
		return "'none'"
	}
	list := []string{"'self'"}
	for _, o := range ui.cfg.AllowedOrigins {
		if o == "*" {
			list = append(list, "http:", "https:")
			continue
		}
		list = append(list, strings.TrimSuffix(o, "/"))
	}
	if demoOn(ui.cfg, r) {
		// The demo page may be on this server's other loopback name.
		if other := otherLoopbackHost(r.Host); other != "" {
			list = append(list, scheme(r)+"://"+other)
		}
	}
	return strings.Join(list, " ")
}

// serveAsset serves an embedded file at the request's path.
func (ui *webUI) serveAsset(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "/favicon.ico" {
		p = "/favicon.svg" // browsers ask for it on pages without an icon link
	}
	a, ok := ui.files[p]
	if !ok {
		if _, dir := ui.files[p+"/"]; dir {
			http.Redirect(w, r, p+"/", http.StatusMovedPermanently)
			return
		}
		writeError(w, parley.Errorf(parley.ENotFound, "No such page: %s", p))
		return
	}
	h := w.Header()
	securityHeaders(h, cspBase+"; frame-ancestors "+ui.frameAncestors(r, p))
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	switch {
	case p == "/widget.js":
		// Host sites link it without a version: keep caches short.
		h.Set("Cache-Control", "public, max-age=300")
		// Host pages on other origins load it (and check it with SRI
		// when they want): a cross-origin script needs no CORS, but allow it.
		h.Set("Access-Control-Allow-Origin", "*")
	default:
		// Always revalidate: the ETag makes that a cheap 304.
		h.Set("Cache-Control", "no-cache")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// baseURL is this server's address as browsers reach it: --public-url, or
// the request's scheme and Host.
func (ui *webUI) baseURL(r *http.Request) string {
	if ui.cfg.PublicURL != "" {
		return strings.TrimSuffix(ui.cfg.PublicURL, "/")
	}
	return requestScheme(r) + "://" + requestHost(r)
}

func scheme(r *http.Request) string { return requestScheme(r) }

// serveLanding renders the page at /.
func (ui *webUI) serveLanding(w http.ResponseWriter, r *http.Request) {
	snippet := fmt.Sprintf(`<script src="%s/widget.js" async></script>`, ui.baseURL(r))
	ui.render(w, ui.landing, cspBase+"; frame-ancestors 'none'", map[string]any{
		"Demo": demoOn(ui.cfg, r), "Snippet": snippet,
	})
}

// serveDemo renders /demo: a host page that embeds the widget the way a
// customer's site would, from this server's other loopback name when it
// has one, so that the page and the widget frame are different origins.
func (ui *webUI) serveDemo(w http.ResponseWriter, r *http.Request) {
	if !demoOn(ui.cfg, r) {
		writeError(w, parley.Errorf(parley.ENotFound, "The demo is off: the server does not listen on loopback and --demo is not set."))
		return
	}
	widgetOrigin := scheme(r) + "://" + r.Host
	if other := otherLoopbackHost(r.Host); other != "" {
		widgetOrigin = scheme(r) + "://" + other
	}
	csp := strings.Replace(cspBase, "script-src 'self'", "script-src 'self' "+widgetOrigin, 1) +
		"; frame-src " + widgetOrigin + "; frame-ancestors 'none'"
	ui.render(w, ui.demo, csp, map[string]any{
		"WidgetURL": widgetOrigin + "/widget.js", "WidgetOrigin": widgetOrigin,
	})
}

func (ui *webUI) render(w http.ResponseWriter, t *template.Template, csp string, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		writeError(w, fmt.Errorf("render page: %w", err))
		return
	}
	h := w.Header()
	securityHeaders(h, csp)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(buf.Bytes())
}

// demoOn reports whether the demo serves r. With Config.Demo alone, only
// requests made to a loopback name, not through a proxy, are served: a
// server on loopback behind a public reverse proxy must not sign demo
// tokens for the internet. Config.DemoPublic (--demo) serves every request.
func demoOn(cfg *Config, r *http.Request) bool {
	if !cfg.Demo {
		return false
	}
	if cfg.DemoPublic {
		return true
	}
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip"} {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// otherLoopbackHost returns host with 127.0.0.1 and localhost swapped, or
// "" when host is neither.
func otherLoopbackHost(host string) string {
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = host, ""
	}
	var other string
	switch strings.ToLower(name) {
	case "127.0.0.1":
		other = "localhost"
	case "localhost":
		other = "127.0.0.1"
	default:
		return ""
	}
	if port == "" {
		return other
	}
	return net.JoinHostPort(other, port)
}

// handleDemoToken signs a short-lived customer token for the name given,
// so that a person can try the widget as that customer. Only on when
// Config.Demo is.
func (s *Server) handleDemoToken(w http.ResponseWriter, r *http.Request) {
	if !demoOn(&s.cfg, r) {
		writeError(w, parley.Errorf(parley.ENotFound, "The demo is off."))
		return
	}
	var body struct {
		Name string `json:"name"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		writeError(w, err)
		return
	}
	name := strings.TrimSpace(body.Name)
	if name == "" || len(name) > 80 {
		writeError(w, parley.Errorf(parley.EBadRequest, "name must be 1 to 80 characters."))
		return
	}
	now := s.cfg.Now()
	sum := sha256.Sum256([]byte(strings.ToLower(name)))
	cust := parley.Customer{
		ID:      "demo-" + base64.RawURLEncoding.EncodeToString(sum[:9]),
		Name:    name,
		Profile: json.RawMessage(`{"source":"demo page"}`),
	}
	token, err := auth.SignCustomer(s.cfg.CustomerSecret, cust, DemoTokenTTL, now)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "customer_id": cust.ID})
}
