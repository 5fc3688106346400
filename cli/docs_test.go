package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocumentedBuildCommand: every `go build -o OUT .` in the README and
// docs writes a file, not into a directory of the repository (`-o parley`
// lands inside the parley/ package), and OUT is ignored by git.
func TestDocumentedBuildCommand(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	ignore, err := os.ReadFile(filepath.Join(root, ".gitignore"))
	require.NoError(t, err)
	re := regexp.MustCompile("go build -o (\\S+) \\.")
	n := 0
	for _, doc := range []string{"README.md", "docs/performance.md"} {
		text, err := os.ReadFile(filepath.Join(root, doc))
		require.NoError(t, err)
		for _, m := range re.FindAllStringSubmatch(string(text), -1) {
			n++
			out := m[1]
			fi, err := os.Stat(filepath.Join(root, out))
			if err == nil {
				assert.False(t, fi.IsDir(), "%s: go build -o %s . would write into the directory %s", doc, out, out)
			}
			first, _, _ := strings.Cut(out, "/")
			ignored := false
			for _, line := range strings.Split(string(ignore), "\n") {
				line = strings.TrimSpace(line)
				if line == "/"+out || line == "/"+first+"/" || line == out {
					ignored = true
				}
			}
			assert.True(t, ignored, "%s: the binary %s is not in .gitignore", doc, out)
		}
	}
	assert.Positive(t, n, "no build command documented")
}
