package web_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/parley-chat/parley/web"
)

// maxLoaderGzip is the most the widget loader may weigh gzipped: it is
// loaded on every page of the host site.
const maxLoaderGzip = 5 * 1024

// size returns the raw and gzipped (best compression, as served) bytes of
// the files of web.Static that match keep, each file compressed alone.
func size(t *testing.T, keep func(path string) bool) (raw, gz int) {
	t.Helper()
	err := fs.WalkDir(web.Static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !keep(p) {
			return err
		}
		b, err := fs.ReadFile(web.Static, p)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(b)
		_ = zw.Close()
		raw += len(b)
		gz += buf.Len()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw, gz
}

// TestAssetSizes prints the weight of each part of the UI (go test -v
// ./web -run Sizes; docs/performance.md quotes it) and holds the loader
// to its budget.
func TestAssetSizes(t *testing.T) {
	parts := []struct {
		name string
		keep func(string) bool
	}{
		{"loader (widget.js)", func(p string) bool { return p == "widget.js" }},
		{"widget frame (frame/)", func(p string) bool { return strings.HasPrefix(p, "frame/") }},
		{"console (console/)", func(p string) bool { return strings.HasPrefix(p, "console/") }},
		{"landing and demo (site.css, demo.js, favicon.svg)", func(p string) bool { return !strings.Contains(p, "/") && p != "widget.js" }},
	}
	t.Logf("| part | raw bytes | gzipped bytes |")
	t.Logf("|---|---:|---:|")
	for _, part := range parts {
		raw, gz := size(t, part.keep)
		t.Logf("| %s | %s | %s |", part.name, thousands(raw), thousands(gz))
		if part.name == "loader (widget.js)" && gz > maxLoaderGzip {
			t.Errorf("the loader weighs %d bytes gzipped, over its budget of %d", gz, maxLoaderGzip)
		}
	}
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
