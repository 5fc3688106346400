package chat

import (
	"io"
	"mime"
	"os"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// Defaults of the file limits of Config.
const (
	// DefaultMaxFileSize is the largest file a participant may upload.
	DefaultMaxFileSize = 10 << 20
	// DefaultCustomerFileQuota bounds the bytes of the files one customer
	// has uploaded that are still stored (until retention purges them).
	DefaultCustomerFileQuota = 100 << 20
)

// DefaultFileTypes is the allow-list of uploaded files, by the content
// type sniffed from their bytes: raster images, PDF, plain text and CSV,
// and the common office formats (OOXML, OpenDocument, legacy Office, RTF).
// An entry "type/*" allows a whole top-level type. SVG and HTML are left
// out on purpose: they can carry scripts.
var DefaultFileTypes = []string{
	"image/png", "image/jpeg", "image/gif", "image/webp",
	"application/pdf", "text/plain", "text/csv",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation",
	"application/vnd.oasis.opendocument.text",
	"application/vnd.oasis.opendocument.spreadsheet",
	"application/vnd.oasis.opendocument.presentation",
	"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
	"application/x-ole-storage", "text/rtf",
}

// cmdFile is handled by a session's goroutine: it stores an uploaded
// file's record and its file event (storeFile).
const cmdFile = 140 // far from the other kinds, which other files number from 100

// fileUpload is a cmdFile's payload and answer: the record to store
// (completed with its id) and the outcome, delivered exactly once, also
// when the session refuses the command.
type fileUpload struct {
	rec  *parley.FileRecord
	done chan error // buffered (1)
}

// withFileDefaults fills in the zero file limits of cfg.
func withFileDefaults(cfg Config) Config {
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = DefaultMaxFileSize
	}
	if cfg.CustomerFileQuota == 0 {
		cfg.CustomerFileQuota = DefaultCustomerFileQuota
	}
	if len(cfg.FileTypes) == 0 {
		cfg.FileTypes = DefaultFileTypes
	}
	return cfg
}

// MaxFileSize returns the largest file UploadFile accepts, in bytes.
func (h *Hub) MaxFileSize() int64 { return h.cfg.MaxFileSize }

// limits are the sizes the hub accepts, as welcome tells clients.
func (h *Hub) limits() *parley.Limits {
	return &parley.Limits{MaxMessageChars: h.cfg.MaxMessageChars, MaxFileSize: h.cfg.MaxFileSize}
}

// UploadFile shares a file in an open session the viewer is in: it
// stores the bytes (fsync'd, content-addressed), then the file's record
// and its file event through the session's goroutine, which gives the
// event its seq and fans it out like a message. It returns once all of it
// is durable. The content type is sniffed from the bytes and must be on
// the allow-list (bad_request otherwise); files over MaxFileSize and
// customers over their quota get too_large.
func (h *Hub) UploadFile(v Viewer, sessionID, name string, body io.Reader) (parley.File, error) {
	s, err := h.live(v, sessionID)
	if err != nil {
		return parley.File{}, err
	}
	from := parley.Participant{Role: parley.RoleCustomer, ID: v.CustomerID}
	if v.AgentID != "" {
		from = parley.Participant{Role: parley.RoleAgent, ID: v.AgentID}
	}
	if v.CustomerID != "" {
		if err := h.checkQuota(v.CustomerID, 1); err != nil {
			return parley.File{}, err
		}
	}
	blob, err := h.db.Blobs().Write(body, h.cfg.MaxFileSize)
	if err != nil {
		return parley.File{}, err
	}
	ctype := mimetype.Detect(blob.Head).String()
	if !h.fileTypeAllowed(ctype) {
		blob.Discard()
		base, _, _ := mime.ParseMediaType(ctype)
		return parley.File{}, parley.Errorf(parley.EBadRequest, "Files of type %s are not accepted here.", base)
	}
	if blob.Size == 0 {
		blob.Discard()
		return parley.File{}, parley.Errorf(parley.EBadRequest, "The file is empty.")
	}
	release, err := blob.Install()
	if err != nil {
		return parley.File{}, err
	}
	up := &fileUpload{
		rec: &parley.FileRecord{
			File:      parley.File{Name: CleanFileName(name), Size: blob.Size, ContentType: ctype},
			Hash:      blob.Hash,
			SessionID: sessionID,
			From:      from,
		},
		done: make(chan error, 1),
	}
	s.post(command{kind: cmdFile, from: from, upload: up})
	// The session always answers (storage updates are bounded), and the
	// blob stays held until it has: collection must not run between the
	// commit and the release.
	err = <-up.done
	release()
	if err != nil {
		if _, cerr := h.db.CollectBlobs([]string{blob.Hash}); cerr != nil {
			h.log.Error("collect the blob of a refused upload", "session", sessionID, "err", cerr)
		}
		return parley.File{}, err
	}
	return up.rec.File, nil
}

// checkQuota refuses an upload of n more bytes by a customer whose stored
// files would pass the quota.
func (h *Hub) checkQuota(customerID string, n int64) error {
	var used int64
	if err := h.db.View(func(tx *storage.Tx) (err error) { used, err = tx.CustomerFileBytes(customerID); return }); err != nil {
		return err
	}
	return quotaError(used, n, h.cfg.CustomerFileQuota)
}

func quotaError(used, n, quota int64) error {
	if quota > 0 && used+n > quota {
		return parley.Errorf(parley.ETooLarge, "Your files would pass your quota of %d MiB; older files free space as they expire.", quota>>20)
	}
	return nil
}

// fileTypeAllowed reports whether a sniffed content type is on the
// allow-list.
func (h *Hub) fileTypeAllowed(ctype string) bool {
	base, _, err := mime.ParseMediaType(ctype)
	if err != nil {
		return false
	}
	for _, t := range h.cfg.FileTypes {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == base || (strings.HasSuffix(t, "/*") && strings.HasPrefix(base, strings.TrimSuffix(t, "*"))) {
			return true
		}
	}
	return false
}

// storeFile stores an upload's record and file event in one commit, after
// checking that the uploader may write here and, for customers, the quota
// inside the same transaction. The event is fanned out to everyone in the
// session, including the uploader's connections.
func (s *session) storeFile(c command) {
	if err := s.mayWrite(c.from, false); err != nil {
		s.fail(c, err)
		return
	}
	rec := c.upload.rec
	rec.CustomerID = s.customerID
	rec.From = c.from
	if c.from.Role == parley.RoleCustomer {
		rec.From.Name = s.rec.Customer.Name
	} else {
		for _, a := range s.rec.Agents {
			if a.ID == c.from.ID {
				rec.From.Name = a.Name
			}
		}
	}
	var ev parley.Event
	err := s.hub.update(func(tx *storage.Tx) error {
		r := *rec // the function may run more than once
		if r.From.Role == parley.RoleCustomer {
			used, err := tx.CustomerFileBytes(r.CustomerID)
			if err != nil {
				return err
			}
			if err := quotaError(used, r.Size, s.hub.cfg.CustomerFileQuota); err != nil {
				return err
			}
		}
		if err := tx.PutFile(&r); err != nil {
			return err
		}
		f := r.File
		ev = parley.Event{Kind: parley.KindFile, From: r.From, File: &f}
		if _, err := tx.Append(s.id, &ev); err != nil {
			return err
		}
		*rec = r
		return nil
	})
	if err != nil {
		s.hub.log.Error("store file", "session", s.id, "err", err)
		s.fail(c, err)
		return
	}
	s.lastSeq = ev.Seq
	s.remember(ev)
	answer(c.upload.done, nil)
	s.publish(ev, nil)
}

// OpenFile opens a file of a session for a viewer who may read the
// session's history: the file's record and its bytes, which the caller
// closes. A file of another session is not found.
func (h *Hub) OpenFile(v Viewer, sessionID, fileID string) (*parley.FileRecord, *os.File, error) {
	var rec *parley.FileRecord
	err := h.db.View(func(tx *storage.Tx) error {
		if _, err := h.sessionFor(tx, v, sessionID); err != nil {
			return err
		}
		if _, err := parley.ParseID(fileID); err != nil {
			return parley.Errorf(parley.ENotFound, "File %s not found.", fileID)
		}
		r, err := tx.File(fileID)
		if parley.ErrorCode(err) == parley.ENotFound || (err == nil && r.SessionID != sessionID) {
			return parley.Errorf(parley.ENotFound, "File %s not found.", fileID)
		}
		rec = r
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	f, err := h.db.Blobs().Open(rec.Hash)
	if err != nil {
		return nil, nil, err
	}
	return rec, f, nil
}

// maxFileNameRunes bounds a cleaned file name.
const maxFileNameRunes = 120

// CleanFileName makes an uploaded file's name safe to store and show: its
// base name only (no directories, Windows' included), valid UTF-8, no
// control or formatting characters (bidi overrides could disguise an
// extension), no leading dots or surrounding spaces, at most 120
// characters with the extension kept; "file" if nothing is left.
func CleanFileName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > maxFileNameRunes {
		ext := path.Ext(name)
		if utf8.RuneCountInString(ext) > 16 {
			ext = ""
		}
		stem := []rune(strings.TrimSuffix(name, ext))
		name = string(stem[:maxFileNameRunes-utf8.RuneCountInString(ext)]) + ext
	}
	if name == "" {
		return "file"
	}
	return name
}
