package httpapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/parley-chat/parley/parley"
)

// FuzzDecodeFrame feeds arbitrary bytes to decodeFrame, which sees every
// frame a client sends before anything is authenticated. It must never
// panic; an accepted frame must have a type and a req short enough to echo;
// a refused one must be a bad_request whose recovered req is also short
// enough to echo.
func FuzzDecodeFrame(f *testing.F) {
	long := strings.Repeat("r", parley.MaxReqBytes+1)
	id := "01J0000000000000000000000A"
	seeds := []string{
		// One valid frame of every client type.
		`{"type":"hello","token":"a.b.c","req":"h"}`,
		`{"type":"hello"}`,
		`{"type":"start","req":"s"}`,
		`{"type":"resume","session_id":"` + id + `","after_seq":3,"req":"r"}`,
		`{"type":"send","text":"hello","client_msg_id":"c1","req":"m"}`,
		`{"type":"send","session_id":"` + id + `","text":"note","whisper":true}`,
		`{"type":"typing","active":true}`,
		`{"type":"typing","session_id":"` + id + `","active":false}`,
		`{"type":"read","seq":4}`,
		`{"type":"end","req":"e"}`,
		`{"type":"end","session_id":"` + id + `"}`,
		`{"type":"history","session_id":"` + id + `","before_seq":5,"limit":50}`,
		`{"type":"sessions"}`,
		`{"type":"status","status":"available","req":"st"}`,
		`{"type":"accept"}`,
		`{"type":"accept","session_id":"` + id + `"}`,
		`{"type":"leave","session_id":"` + id + `"}`,
		`{"type":"unknown","extra":{"nested":[1,2,3]}}`,
		`{"type":"start","req":"` + strings.Repeat("r", parley.MaxReqBytes) + `"}`,
		// Broken ones.
		``,
		`{`,
		`}`,
		`null`,
		`[]`,
		`[{"type":"start"}]`,
		`42`,
		`"start"`,
		`{}`,
		`{"type":""}`,
		`{"type":null,"req":"n"}`,
		`{"type":1,"req":"x"}`,
		`{"type":"read","seq":"x","req":"w"}`,
		`{"type":"read","seq":-1}`,
		`{"type":"read","seq":1e400}`,
		`{"type":"history","limit":1.5}`,
		`{"type":"typing","active":"yes"}`,
		`{"type":"start","req":7}`,
		`{"type":"start","req":"` + long + `"}`,
		`{"type":"read","seq":"x","req":"` + long + `"}`,
		`{"req":"` + long + `"}`,
		`{"type":"start","req":"\ud800"}`,
		`{"type":"start"} trailing`,
		`{"type":"start","type":""}`,
		`{"TYPE":"start"}`,
		"{\"type\":\"send\",\"text\":\"\xff\xfe\"}",
		`{"type":"start","req":"` + strings.Repeat(`\u00e9`, 100) + `"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := decodeFrame(data)
		if in == nil {
			t.Fatalf("decodeFrame(%q) returned a nil frame", data)
		}
		if len(in.Req) > parley.MaxReqBytes {
			t.Fatalf("decodeFrame(%q) kept a req of %d bytes", data, len(in.Req))
		}
		if err != nil {
			var pe *parley.Error
			if !errors.As(err, &pe) || pe.Code != parley.EBadRequest {
				t.Fatalf("decodeFrame(%q) failed with %v, want a bad_request *parley.Error", data, err)
			}
			if pe.Message == "" {
				t.Fatalf("decodeFrame(%q) failed without a message", data)
			}
			return
		}
		if in.Type == "" {
			t.Fatalf("decodeFrame(%q) accepted a frame without a type", data)
		}
	})
}
