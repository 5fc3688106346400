package chat_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/parley-chat/parley/chat"
)

func TestCleanFileName(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":                     "report.pdf",
		"../../etc/passwd":               "passwd",
		`C:\Users\ada\Desktop\photo.jpg`: "photo.jpg",
		"invoice\u202Efdp.exe":           "invoicefdp.exe", // a bidi override would show "invoiceexe.pdf"
		"a\x00b\nc\td.txt":               "abcd.txt",
		"  .hidden  ":                    "hidden",
		"...":                            "file",
		"":                               "file",
		"dir/":                           "file",
		"\xff\xfe.txt":                   "_.txt",
		"Καλημέρα.txt":                   "Καλημέρα.txt",
	} {
		assert.Equal(t, want, chat.CleanFileName(in), "%q", in)
	}
	long := chat.CleanFileName(strings.Repeat("ж", 300) + ".docx")
	assert.Equal(t, 120, utf8.RuneCountInString(long))
	assert.True(t, strings.HasSuffix(long, ".docx"), long)
	assert.True(t, utf8.ValidString(long))
}
