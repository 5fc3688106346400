package parley

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkBadRequest fails t unless err is a bad_request *Error with a
// non-empty, valid UTF-8 message (it is shown to people and put in JSON).
func checkBadRequest(t *testing.T, in string, err error) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != EBadRequest {
		t.Fatalf("%q: error %v is not a bad_request *Error", in, err)
	}
	if pe.Message == "" || !utf8.ValidString(pe.Message) {
		t.Fatalf("%q: bad message %q", in, pe.Message)
	}
}

// FuzzParseDuration feeds ParseDuration (flags and admin arguments such as
// --retention) arbitrary text: it never panics, a refusal is bad_request,
// and an accepted duration is never negative.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90d", "2w", "36h", "15m", "1.5d", " 7d ", "0", "-1d", "-5m", "d", "w", "1e300d",
		"NaNd", "Infd", "+Infw", "9223372036854775807ns", "1e3h", "0x10d", "١d", "1dd", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			checkBadRequest(t, s, err)
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
	})
}

// FuzzParseID feeds ParseID (session ids in frames and URLs) arbitrary
// text: it never panics, a refusal is bad_request with a short, valid
// message, and an accepted id prints back as the same id.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"01J0000000000000000000000A", "01j0000000000000000000000a", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
		"8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "01J000000000000000000000", "", "01J0000000000000000000000I",
		strings.Repeat("é", 30), "01J0000000000000000000000A\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			checkBadRequest(t, s, err)
			if len(err.Error()) > 200 {
				t.Fatalf("ParseID(%q): message of %d bytes", s, len(err.Error()))
			}
			return
		}
		if !strings.EqualFold(id.String(), s) {
			t.Fatalf("ParseID(%q) = %s", s, id)
		}
	})
}
