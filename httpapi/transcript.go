package httpapi

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"

	"github.com/parley-chat/parley/parley"
)

// transcriptFormats renders a session and its events for export.
var transcriptFormats = map[string]func(http.ResponseWriter, parley.Session, []parley.Event){
	"txt":  renderText,
	"json": renderJSON,
	"html": renderHTML,
}

func renderJSON(w http.ResponseWriter, s parley.Session, events []parley.Event) {
	w.Header().Set("Content-Type", "application/json")
	if events == nil {
		events = []parley.Event{}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"session": s, "events": events})
}

func renderText(w http.ResponseWriter, s parley.Session, events []parley.Event) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	WriteTranscript(w, s, events)
}

// WriteTranscript writes a session as plain text, one entry per event.
// An entry starts a line with "[time] #seq"; when a message (or a name)
// spans several lines, every further line starts with continuationMark, so
// text a participant wrote can never pass for another entry.
func WriteTranscript(w io.Writer, s parley.Session, events []parley.Event) {
	fmt.Fprintf(w, "Session %s (%s)\nCustomer: %s\nCreated: %s\n", oneEntry(s.ID), oneEntry(s.State),
		oneEntry(customerName(s.Customer)), s.CreatedAt.Format(parley.TimeLayout))
	if !s.EndedAt.IsZero() {
		fmt.Fprintf(w, "Ended: %s (%s)\n", s.EndedAt.Format(parley.TimeLayout), oneEntry(s.EndReason))
	}
	fmt.Fprintln(w)
	for _, ev := range events {
		fmt.Fprintf(w, "[%s] #%d %s\n", ev.At.Format(parley.TimeLayout), ev.Seq, oneEntry(describe(ev)))
	}
}

// continuationMark starts every line of a plain-text transcript entry but
// its first.
const continuationMark = "    | "

// lineBreaks are the sequences a text viewer may start a new line at.
var lineBreaks = strings.NewReplacer(
	"\r\n", "\n"+continuationMark,
	"\n", "\n"+continuationMark,
	"\r", "\n"+continuationMark,
	"\v", "\n"+continuationMark,
	"\f", "\n"+continuationMark,
	"\u0085", "\n"+continuationMark,
	"\u2028", "\n"+continuationMark,
	"\u2029", "\n"+continuationMark,
)

// oneEntry marks the continuation lines of text, so that it reads as one
// entry.
func oneEntry(text string) string {
	return lineBreaks.Replace(text)
}

func customerName(c parley.CustomerRef) string {
	if c.Name != "" {
		return c.Name + " <" + c.ID + ">"
	}
	return c.ID
}

func who(p parley.Participant) string {
	if p.Name != "" {
		return p.Name
	}
	if p.ID != "" {
		return p.ID
	}
	return p.Role
}

// describe says what an event is in a few words.
func describe(ev parley.Event) string {
	switch ev.Kind {
	case parley.KindMessage:
		if ev.Whisper {
			return fmt.Sprintf("%s (whisper, agents only): %s", who(ev.From), ev.Text)
		}
		return fmt.Sprintf("%s: %s", who(ev.From), ev.Text)
	case parley.KindQueued:
		return "waiting for an agent"
	case parley.KindAgentJoined:
		return who(ev.From) + " joined"
	case parley.KindAgentLeft:
		return who(ev.From) + " left"
	case parley.KindEnded:
		return fmt.Sprintf("ended by %s (%s)", who(ev.From), ev.Reason)
	}
	return ev.Kind
}

var htmlTranscript = template.Must(template.New("t").Funcs(template.FuncMap{
	"when":     func(t parley.Time) string { return t.Format(parley.TimeLayout) },
	"describe": describe,
	"customer": customerName,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Transcript {{.S.ID}}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#222}
header{border-bottom:1px solid #ddd;margin-bottom:1rem}
ol{list-style:none;padding:0}
li{padding:.4rem .6rem;margin:.3rem 0;border-radius:.4rem;background:#f4f4f6}
li.customer{background:#e8f0fe}li.whisper{background:#fff4d6;border-left:3px solid #e0a800}
li.system{background:none;color:#666;font-style:italic}
time{color:#888;font-size:.8em;margin-right:.5em}
</style></head><body>
<header><h1>Conversation {{.S.ID}}</h1>
<p>Customer: {{customer .S.Customer}} · State: {{.S.State}} · Started {{when .S.CreatedAt}}{{if not .S.EndedAt.IsZero}} · Ended {{when .S.EndedAt}} ({{.S.EndReason}}){{end}}</p></header>
<ol>{{range .E}}
<li class="{{if eq .Kind "message"}}{{.From.Role}}{{if .Whisper}} whisper{{end}}{{else}}system{{end}}"><time>{{when .At}}</time>{{describe .}}</li>{{end}}
</ol></body></html>
`))

func renderHTML(w http.ResponseWriter, s parley.Session, events []parley.Event) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_ = htmlTranscript.Execute(w, struct {
		S parley.Session
		E []parley.Event
	}{s, events})
}
