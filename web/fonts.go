package web

import _ "embed"

// TranscriptFont is the TrueType font of PDF transcripts: DejaVu Sans cut
// down to Latin, Greek and Cyrillic (fonts/LICENSE says how, and its
// license, Bitstream Vera's with the DejaVu changes in the public domain).
//
//go:embed fonts/DejaVuSans.ttf
var TranscriptFont []byte
