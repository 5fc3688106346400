package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/parley"
)

// This file serves shared files: uploads into an open session and
// downloads with the session history's authorization. The rules (size,
// quota, allowed types, storage) live in package chat.

// FileConfig configures the file endpoints.
type FileConfig struct {
	// UploadsPerMinute bounds the uploads of one customer or agent;
	// default DefaultUploadsPerMinute, negative for no bound.
	UploadsPerMinute int
	// TransferTimeout is how long one upload or download may take, past
	// the HTTP server's own read and write timeouts; default 10 minutes.
	TransferTimeout time.Duration
}

// DefaultUploadsPerMinute is the default FileConfig.UploadsPerMinute.
const DefaultUploadsPerMinute = 20

// multipartSlack is what the body of an upload may hold beyond the file:
// the multipart boundaries and part headers.
const multipartSlack = 64 << 10

// inlineTypes are the content types served inline (shown by the browser):
// raster images only. Everything else is an attachment.
var inlineTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// fileRoutes registers the file endpoints.
func (s *Server) fileRoutes() {
	fc := &s.cfg.Files
	if fc.UploadsPerMinute == 0 {
		fc.UploadsPerMinute = DefaultUploadsPerMinute
	}
	if fc.TransferTimeout <= 0 {
		fc.TransferTimeout = 10 * time.Minute
	}
	if n := fc.UploadsPerMinute; n > 0 {
		s.uploads = newKeyedLimiter(time.Minute/time.Duration(n), max(n/2, 1), 100000)
	}
	s.mux.HandleFunc("POST /v1/customer/sessions/{id}/files", s.handleUpload("customer"))
	s.mux.HandleFunc("POST /v1/agent/sessions/{id}/files", s.handleUpload("agent"))
	s.mux.HandleFunc("GET /v1/customer/sessions/{id}/files/{file}", s.handleDownload("customer"))
	s.mux.HandleFunc("GET /v1/agent/sessions/{id}/files/{file}", s.handleDownload("agent"))
}

// fileViewer authenticates a file request: the agent routes take agent
// tokens only; the customer routes take customer tokens and, like the
// session's history, agent tokens for reading.
func (s *Server) fileViewer(r *http.Request, role string, upload bool) (chat.Viewer, error) {
	v, err := s.viewer(r, true)
	if err != nil {
		return v, err
	}
	if role == "agent" && v.AgentID == "" {
		return v, parley.Errorf(parley.EForbidden, "This endpoint is for agents; customers use /v1/customer/sessions/….")
	}
	if upload && role == "customer" && v.AgentID != "" {
		return v, parley.Errorf(parley.EForbidden, "Agents upload with POST /v1/agent/sessions/{id}/files.")
	}
	return v, nil
}

// handleUpload stores the multipart field "file" in an open session the
// caller is in and answers 201 with the file object.
func (s *Server) handleUpload(role string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := s.fileViewer(r, role, true)
		if err != nil {
			writeError(w, err)
			return
		}
		if s.uploads != nil {
			key := "c:" + v.CustomerID
			if v.AgentID != "" {
				key = "a:" + v.AgentID
			}
			if res, wait := s.uploads.take(key, s.cfg.Now()); res == nil {
				s.hits.hit(hitUploads)
				writeError(w, parley.RateLimited(wait, "Too many uploads; try again in %s.", roundUp(wait)))
				return
			}
		}
		max := s.hub.MaxFileSize()
		if r.ContentLength > max+multipartSlack {
			writeError(w, tooLarge(max))
			return
		}
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.Files.TransferTimeout))
		r.Body = http.MaxBytesReader(w, r.Body, max+multipartSlack)
		mr, err := r.MultipartReader()
		if err != nil {
			writeError(w, parley.Errorf(parley.EBadRequest, "The body must be multipart/form-data with the file in the field \"file\"."))
			return
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				writeError(w, parley.Errorf(parley.EBadRequest, "The field \"file\" is missing."))
				return
			} else if err != nil {
				writeError(w, bodyError(err, max))
				return
			}
			if part.FormName() != "file" {
				_ = part.Close()
				continue
			}
			f, err := s.hub.UploadFile(v, r.PathValue("id"), part.FileName(), tooLargeReader{part, max})
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusCreated, f)
			return
		}
	}
}

// tooLarge is the error of a file over the size limit.
func tooLarge(max int64) error {
	return parley.Errorf(parley.ETooLarge, "The file is larger than %s.", byteSize(int(max)))
}

// bodyError turns an error reading an upload's body into a client error.
func bodyError(err error, max int64) error {
	var big *http.MaxBytesError
	if errors.As(err, &big) {
		return tooLarge(max)
	}
	return parley.Errorf(parley.EBadRequest, "The upload could not be read: %v.", err)
}

// tooLargeReader reports the body's size limit as a too_large error, so
// storage passes it on rather than call it an I/O failure.
type tooLargeReader struct {
	r   io.Reader
	max int64
}

func (t tooLargeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		err = bodyError(err, t.max)
	}
	return n, err
}

// handleDownload streams a file of a session to a caller who may read
// the session's history. The headers keep a browser from running it:
// nosniff, a sandboxing CSP, and attachment for anything but raster
// images.
func (s *Server) handleDownload(role string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := s.fileViewer(r, role, false)
		if err != nil {
			writeError(w, err)
			return
		}
		rec, f, err := s.hub.OpenFile(v, r.PathValue("id"), r.PathValue("file"))
		if err != nil {
			writeError(w, err)
			return
		}
		defer f.Close()
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.cfg.Files.TransferTimeout))
		h := w.Header()
		ctype := rec.ContentType
		base, _, err := mime.ParseMediaType(ctype)
		if err != nil || ctype == "" {
			ctype, base = "application/octet-stream", "application/octet-stream"
		}
		disposition := "attachment"
		if inlineTypes[base] {
			disposition = "inline"
		}
		h.Set("Content-Type", ctype)
		h.Set("Content-Disposition", contentDisposition(disposition, rec.Name))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "private, no-store")
		h.Set("ETag", `"`+rec.Hash+`"`)
		http.ServeContent(w, r, "", rec.CreatedAt.Time, f)
	}
}

// contentDisposition formats the header with the file's name, encoded
// (RFC 2231) when it is not plain ASCII.
func contentDisposition(kind, name string) string {
	if v := mime.FormatMediaType(kind, map[string]string{"filename": name}); v != "" {
		return v
	}
	return kind + `; filename="` + strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name) + `"`
}

// fileSize formats a file's size for transcripts: "812 bytes", "4.2 KiB",
// "3.0 MiB".
func fileSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
