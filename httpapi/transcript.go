package httpapi

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/parley-chat/parley/parley"
)

// transcriptFormat writes a transcript piece by piece: head once, event
// for each event (i counts them from 0), then tail, so that a transcript
// of any length streams out without being held in memory.
type transcriptFormat struct {
	contentType string
	head        func(w io.Writer, s parley.Session) error
	event       func(w io.Writer, i int, ev parley.Event) error
	tail        func(w io.Writer) error
}

// transcriptFormats are the formats of GET .../transcript.
var transcriptFormats = map[string]transcriptFormat{
	"txt": {"text/plain; charset=utf-8", textHead, textEvent, func(io.Writer) error { return nil }},
	"json": {"application/json", func(w io.Writer, s parley.Session) error {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, `{"session":%s,"events":[`, b)
		return err
	}, func(w io.Writer, i int, ev parley.Event) error {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if i > 0 {
			if _, err := io.WriteString(w, ","); err != nil {
				return err
			}
		}
		_, err = w.Write(b)
		return err
	}, func(w io.Writer) error {
		_, err := io.WriteString(w, "]}\n")
		return err
	}},
	"html": {"text/html; charset=utf-8", func(w io.Writer, s parley.Session) error {
		return htmlTranscript.ExecuteTemplate(w, "head", s)
	}, func(w io.Writer, _ int, ev parley.Event) error {
		return htmlTranscript.ExecuteTemplate(w, "event", ev)
	}, func(w io.Writer) error {
		return htmlTranscript.ExecuteTemplate(w, "tail", nil)
	}},
}

// WriteTranscript writes a session as plain text, one entry per event.
// An entry starts a line with "[time] #seq"; when a message (or a name)
// spans several lines, every further line starts with continuationMark, so
// text a participant wrote can never pass for another entry.
func WriteTranscript(w io.Writer, s parley.Session, events []parley.Event) {
	_ = textHead(w, s)
	for i, ev := range events {
		_ = textEvent(w, i, ev)
	}
}

func textHead(w io.Writer, s parley.Session) error {
	fmt.Fprintf(w, "Session %s (%s)\nCustomer: %s\nCreated: %s\n", oneEntry(s.ID), oneEntry(s.State),
		oneEntry(customerName(s.Customer)), s.CreatedAt.Format(parley.TimeLayout))
	if !s.EndedAt.IsZero() {
		fmt.Fprintf(w, "Ended: %s (%s)\n", s.EndedAt.Format(parley.TimeLayout), oneEntry(s.EndReason))
	}
	_, err := fmt.Fprintln(w)
	return err
}

func textEvent(w io.Writer, _ int, ev parley.Event) error {
	_, err := fmt.Fprintf(w, "[%s] #%d %s\n", ev.At.Format(parley.TimeLayout), ev.Seq, oneEntry(describe(ev)))
	return err
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
	case parley.KindFile:
		if ev.File != nil {
			return fmt.Sprintf("%s shared a file: %s (%s, %s)", who(ev.From), ev.File.Name, fileSize(ev.File.Size), ev.File.ContentType)
		}
	}
	return ev.Kind
}

var htmlTranscript = template.Must(template.New("t").Funcs(template.FuncMap{
	"when":     func(t parley.Time) string { return t.Format(parley.TimeLayout) },
	"describe": describe,
	"customer": customerName,
}).Parse(`{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Transcript {{.ID}}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#222}
header{border-bottom:1px solid #ddd;margin-bottom:1rem}
ol{list-style:none;padding:0}
li{padding:.4rem .6rem;margin:.3rem 0;border-radius:.4rem;background:#f4f4f6}
li.customer{background:#e8f0fe}li.whisper{background:#fff4d6;border-left:3px solid #e0a800}
li.system{background:none;color:#666;font-style:italic}
time{color:#888;font-size:.8em;margin-right:.5em}
</style></head><body>
<header><h1>Conversation {{.ID}}</h1>
<p>Customer: {{customer .Customer}} · State: {{.State}} · Started {{when .CreatedAt}}{{if not .EndedAt.IsZero}} · Ended {{when .EndedAt}} ({{.EndReason}}){{end}}</p></header>
<ol>{{end}}{{define "event"}}
<li class="{{if eq .Kind "message"}}{{.From.Role}}{{if .Whisper}} whisper{{end}}{{else}}system{{end}}"><time>{{when .At}}</time>{{describe .}}</li>{{end}}{{define "tail"}}
</ol></body></html>
{{end}}`))
