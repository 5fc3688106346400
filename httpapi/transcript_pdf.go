package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/go-pdf/fpdf"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/web"
)

// maxPDFEvents bounds the events of a PDF transcript: a PDF is built in
// memory, unlike the streamed formats. Longer sessions end with a note
// pointing at the other formats.
const maxPDFEvents = 20000

// maxPDFEntryRunes bounds the text of one entry of a PDF transcript.
const maxPDFEntryRunes = 20000

// pdfFont is the family name the embedded font is registered under.
const pdfFont = "dejavu"

// pdfTranscript lays a transcript out as a PDF: the same header and
// entries as the HTML transcript (describe), in an embedded font that
// covers Latin, Greek and Cyrillic, with page numbers. Whispers are in
// it only when the viewer is an agent, because the viewer's events are
// already filtered (chat.StreamTranscript).
type pdfTranscript struct {
	pdf    *fpdf.Fpdf
	events int
}

func newPDFTranscript() *pdfTranscript {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCompression(true)
	pdf.AddUTF8FontFromBytes(pdfFont, "", web.TranscriptFont)
	pdf.SetMargins(18, 18, 18)
	pdf.SetAutoPageBreak(true, 18)
	pdf.AliasNbPages("{nb}")
	pdf.SetCreator("Parley", true)
	pdf.SetFooterFunc(func() {
		pdf.SetY(-13)
		pdf.SetFont(pdfFont, "", 8)
		pdf.SetTextColor(130, 130, 130)
		pdf.CellFormat(0, 5, fmt.Sprintf("Page %d of {nb}", pdf.PageNo()), "", 0, "C", false, 0, "")
	})
	return &pdfTranscript{pdf: pdf}
}

func (p *pdfTranscript) head(s parley.Session) {
	pdf := p.pdf
	pdf.SetTitle("Transcript "+s.ID, true)
	pdf.SetCreationDate(s.CreatedAt.Time)
	pdf.AddPage()
	pdf.SetFont(pdfFont, "", 16)
	pdf.SetTextColor(34, 34, 34)
	pdf.MultiCell(0, 8, "Conversation "+s.ID, "", "L", false)
	pdf.SetFont(pdfFont, "", 10)
	line := fmt.Sprintf("Customer: %s · State: %s · Started %s", pdfText(customerName(s.Customer)), s.State,
		s.CreatedAt.Format(parley.TimeLayout))
	if !s.EndedAt.IsZero() {
		line += fmt.Sprintf(" · Ended %s (%s)", s.EndedAt.Format(parley.TimeLayout), s.EndReason)
	}
	pdf.MultiCell(0, 5.5, line, "B", "L", false)
	pdf.Ln(3)
}

func (p *pdfTranscript) event(ev parley.Event) {
	p.events++
	if p.events > maxPDFEvents {
		return
	}
	pdf := p.pdf
	switch {
	case ev.Kind != parley.KindMessage && ev.Kind != parley.KindFile:
		pdf.SetFillColor(255, 255, 255)
		pdf.SetTextColor(102, 102, 102)
	case ev.Whisper:
		pdf.SetFillColor(255, 244, 214)
		pdf.SetTextColor(34, 34, 34)
	case ev.From.Role == parley.RoleCustomer:
		pdf.SetFillColor(232, 240, 254)
		pdf.SetTextColor(34, 34, 34)
	default:
		pdf.SetFillColor(244, 244, 246)
		pdf.SetTextColor(34, 34, 34)
	}
	pdf.SetFont(pdfFont, "", 7.5)
	pdf.CellFormat(0, 4.5, fmt.Sprintf("#%d  %s", ev.Seq, ev.At.Format(parley.TimeLayout)), "", 1, "L", true, 0, "")
	pdf.SetFont(pdfFont, "", 10)
	pdf.MultiCell(0, 5, pdfText(describe(ev)), "", "L", true)
	pdf.Ln(1.5)
}

func (p *pdfTranscript) tail() {
	if p.events > maxPDFEvents {
		p.pdf.SetFont(pdfFont, "", 10)
		p.pdf.SetTextColor(160, 0, 0)
		p.pdf.MultiCell(0, 5, fmt.Sprintf("%d more events are not shown; the txt, json and html transcripts have them all.",
			p.events-maxPDFEvents), "", "L", false)
	}
}

// pdfText makes text safe for the PDF layout: valid UTF-8, tabs and
// other control characters but line breaks as spaces, and a bounded
// length.
func pdfText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\r' || r == '\u2028' || r == '\u2029' || r == '\u0085' || r == '\v' || r == '\f':
			return '\n'
		case r < 0x20 || (r >= 0x7f && r < 0xa0):
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > maxPDFEntryRunes {
		s = string([]rune(s)[:maxPDFEntryRunes]) + " …"
	}
	return s
}

// servePDFTranscript renders a session the viewer may see as a PDF. Unlike
// the other formats it is built in memory (at most maxPDFEvents entries),
// so an error still gets its proper status.
func (s *Server) servePDFTranscript(w http.ResponseWriter, r *http.Request, v chat.Viewer) {
	p := newPDFTranscript()
	var id string
	err := s.hub.StreamTranscript(v, r.PathValue("id"), func(sess parley.Session) error {
		id = sess.ID
		p.head(sess)
		return p.pdf.Error()
	}, func(ev parley.Event) error {
		p.event(ev)
		return p.pdf.Error()
	})
	if err != nil {
		writeError(w, err)
		return
	}
	p.tail()
	var buf bytes.Buffer
	if err := p.pdf.Output(&buf); err != nil {
		s.log.Error("render PDF transcript", "session", id, "err", err)
		writeError(w, fmt.Errorf("render PDF transcript: %w", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Disposition", contentDisposition("attachment", "transcript-"+id+".pdf"))
	h.Set("Content-Length", fmt.Sprint(buf.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	_, _ = buf.WriteTo(w)
}

// WriteTranscriptPDF writes a session as a PDF, like GET
// .../transcript?format=pdf: the caller passes only the events the reader
// may see (no whispers for customers).
func WriteTranscriptPDF(w io.Writer, s parley.Session, events []parley.Event) error {
	p := newPDFTranscript()
	p.head(s)
	for _, ev := range events {
		p.event(ev)
	}
	p.tail()
	return p.pdf.Output(w)
}
