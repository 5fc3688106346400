package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// FuzzHTTPEndpoints sends arbitrary request bodies and query strings to
// every public HTTP endpoint that decodes one: the login body, the events
// page's before_seq and limit, the transcript's format, and the session id
// in the path, with a valid customer token. The server never panics and
// never answers 500; every refusal is a JSON error with a contract code.
func FuzzHTTPEndpoints(f *testing.F) {
	dir := f.TempDir()
	db, err := storage.Open(filepath.Join(dir, "parley.db"), storage.Options{})
	if err != nil {
		f.Fatal(err)
	}
	hub, err := chat.Open(db, chat.Config{})
	if err != nil {
		f.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	api := httpapi.New(hub, httpapi.Config{
		CustomerSecret: secret, AgentSecret: db.AgentSecret(), Accounts: admin.New(db, admin.HubLive(hub)),
	})
	f.Cleanup(func() { _ = hub.Close(); _ = db.Close() })
	tok, err := auth.SignCustomer(secret, parley.Customer{ID: "fuzz-1", Name: "F"}, time.Hour, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	id := "01J0000000000000000000000A"
	for _, s := range []struct {
		route       uint8
		path, query string
		body        []byte
	}{
		{0, "", "", []byte(`{"email":"a@b.c","password":"x"}`)},
		{0, "", "", []byte(`{"email":"a@b.c","password":"x","new_password":"y"}`)},
		{0, "", "", []byte(`{"email":1}`)},
		{0, "", "", []byte(`{"email":"a@b.c","password":"x"} {}`)},
		{0, "", "", []byte(`{"EMAIL":"a@b.c","password":"x"}`)},
		{0, "", "", []byte("{\"email\":\"\xff\",\"password\":\"x\"}")},
		{0, "", "", []byte(``)},
		{0, "", "", bytes.Repeat([]byte(`[`), 10000)},
		{1, id, "before_seq=5&limit=50", nil},
		{1, id, "before_seq=-1&limit=1e9", nil},
		{1, "not-an-id", "limit=18446744073709551616", nil},
		{2, id, "format=html", nil},
		{2, id, "format=pdf", nil},
		{2, id, "format=%ff", nil},
		{3, "", "", nil},
	} {
		f.Add(s.route, s.path, s.query, s.body)
	}
	var n atomic.Uint32
	f.Fuzz(func(t *testing.T, route uint8, path, query string, body []byte) {
		var req *http.Request
		target := func(p string) string {
			u := p
			if query != "" {
				u += "?" + query
			}
			return u
		}
		var err error
		switch route % 4 {
		case 0:
			req, err = http.NewRequest(http.MethodPost, "/v1/agent/login", bytes.NewReader(body))
		case 1:
			req, err = http.NewRequest(http.MethodGet, target("/v1/customer/sessions/"+path+"/events"), nil)
		case 2:
			req, err = http.NewRequest(http.MethodGet, target("/v1/customer/sessions/"+path+"/transcript"), nil)
		case 3:
			req, err = http.NewRequest(http.MethodGet, target("/v1/customer/sessions"), nil)
		}
		if err != nil {
			return // not a request a client could send
		}
		// A fresh address each time, so the login limiter does not stop
		// the fuzzer at the door.
		i := n.Add(1)
		req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1234", byte(i>>16), byte(i>>8), byte(i))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s answered %d: %s", req.Method, req.URL, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
			var e parley.ErrorFrame
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Type != "error" || e.Code == "" || e.Code == parley.EInternal {
				t.Fatalf("%s %s answered %d with %q", req.Method, req.URL, rec.Code, rec.Body)
			}
		}
	})
}
