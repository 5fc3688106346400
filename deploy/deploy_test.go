package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/cli"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/storage"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, …
	args string
}

// parseDockerfile splits a Dockerfile into instructions: comments and
// blank lines dropped, lines ending in a backslash joined with the next.
func parseDockerfile(t *testing.T, text string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	require.Zero(t, cur.Len(), "the Dockerfile ends in a continuation line")
	return out
}

// TestDockerfile checks the image's recipe without building it: a build
// stage that makes a static binary, a final stage that copies only the
// binary, runs as a non-root user with the /data volume, checks its
// health with the binary itself and starts parley serve.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, read(t, filepath.Join("..", "Dockerfile")))
	known := map[string]bool{"FROM": true, "RUN": true, "COPY": true, "WORKDIR": true, "USER": true, "ENV": true,
		"VOLUME": true, "EXPOSE": true, "HEALTHCHECK": true, "ENTRYPOINT": true, "CMD": true, "ARG": true, "LABEL": true}
	type stage struct {
		name string
		ins  []instruction
	}
	var stages []*stage
	for _, in := range ins {
		require.True(t, known[in.cmd], "line %d: unknown instruction %s", in.line, in.cmd)
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := &stage{}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		require.NotEmpty(t, stages, "line %d: %s before FROM", in.line, in.cmd)
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	require.GreaterOrEqual(t, len(stages), 2, "multi-stage: a build stage and the image")
	build, final := stages[0], stages[len(stages)-1]
	require.NotEmpty(t, build.name)

	var static bool
	for _, in := range build.ins {
		if in.cmd == "RUN" && strings.Contains(in.args, "CGO_ENABLED=0") && strings.Contains(in.args, "go build") {
			static = true
		}
	}
	assert.True(t, static, "the build stage must build with CGO_ENABLED=0")

	last := map[string]string{}
	var env []string
	for _, in := range final.ins {
		last[in.cmd] = in.args
		switch in.cmd {
		case "COPY":
			assert.Contains(t, in.args, "--from="+build.name, "line %d: the image copies only from the build stage", in.line)
		case "RUN":
			t.Errorf("line %d: the final stage has no shell to RUN in", in.line)
		case "ENV":
			env = append(env, in.args)
		}
	}
	user := strings.Split(last["USER"], ":")[0]
	require.NotEmpty(t, user, "the image must set USER")
	assert.NotContains(t, []string{"root", "0"}, user, "the image must not run as root")
	assert.Contains(t, last["VOLUME"], "/data")
	assert.Regexp(t, `^(--\S+ +)*CMD \["/usr/local/bin/parley", "healthcheck"\]$`, last["HEALTHCHECK"])
	assert.Equal(t, `["/usr/local/bin/parley"]`, last["ENTRYPOINT"])
	assert.Equal(t, `["serve"]`, last["CMD"])
	envText := strings.Join(env, " ")
	assert.Contains(t, envText, "PARLEY_DATA=/data")
	assert.Contains(t, envText, "PARLEY_LISTEN=0.0.0.0:")
}

// flagEnvNames returns the environment variable of every flag of every
// command (PARLEY_LISTEN, …).
func flagEnvNames() map[string]bool {
	out := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(f *pflag.Flag) {
			out["PARLEY_"+strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))] = true
		}
		c.Flags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cli.NewRootCmd(cli.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, func(string) (string, bool) { return "", false }))
	return out
}

// TestVariablesAreFlags: every PARLEY_ variable the deployment files and
// docs/deploy.md set is a flag's, so a typo cannot be silently ignored.
func TestVariablesAreFlags(t *testing.T) {
	flags := flagEnvNames()
	require.True(t, flags["PARLEY_LISTEN"])
	re := regexp.MustCompile(`PARLEY_[A-Z][A-Z_]*[A-Z]`)
	ignore := map[string]bool{"PARLEY_E2E": true, "PARLEY_SCREENSHOTS": true, "PARLEY_CHROMIUM": true, "PARLEY_WRITE_FIXTURE": true}
	for _, f := range []string{"../Dockerfile", "compose.yaml", "parley.service", "parley-backup.service", "../docs/deploy.md"} {
		for _, name := range re.FindAllString(read(t, f), -1) {
			if !ignore[name] {
				assert.True(t, flags[name], "%s sets %s, which is no flag's variable", f, name)
			}
		}
	}
}

// unit parses a systemd unit file into section -> key -> values.
func unit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	for i, line := range strings.Split(read(t, path), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "%s:%d: not key=value: %q", path, i+1, line)
			require.NotEmpty(t, section, "%s:%d: outside a section", path, i+1)
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

// TestSystemdUnits checks what docs/deploy.md promises of the service
// and, when systemd-analyze is installed, that systemd accepts the units.
func TestSystemdUnits(t *testing.T) {
	u := unit(t, "parley.service")["Service"]
	want := map[string]string{
		"Type": "notify", "User": "parley", "StateDirectory": "parley", "StateDirectoryMode": "0700",
		"Restart": "on-failure", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes", "ExecReload": "/bin/kill -HUP $MAINPID",
		"LoadCredential": "customer-secret:/etc/parley/customer-secret",
	}
	for k, v := range want {
		assert.Equal(t, []string{v}, u[k], "parley.service: %s", k)
	}
	require.Len(t, u["ExecStart"], 1)
	assert.Contains(t, u["ExecStart"][0], "/usr/local/bin/parley serve --customer-secret-file ${CREDENTIALS_DIRECTORY}/customer-secret")
	assert.Equal(t, []string{""}, u["CapabilityBoundingSet"], "no capabilities")
	assert.NotEmpty(t, unit(t, "parley-backup.timer")["Timer"]["OnCalendar"])
	b := unit(t, "parley-backup.service")["Service"]
	require.Len(t, b["ExecStart"], 1)
	assert.Regexp(t, `parley backup "\$f"; /usr/local/bin/parley check "\$f"`, b["ExecStart"][0], "the backup is checked")

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: units not verified by systemd")
	}
	// verify wants the binary to exist: point the units at this test's
	// own executable.
	self, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	names := []string{"parley.service", "parley-backup.service", "parley-backup.timer"}
	for _, n := range names {
		text := strings.ReplaceAll(read(t, n), "/usr/local/bin/parley", self)
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte(text), 0o644))
	}
	cmd := exec.Command(analyze, append([]string{"verify"}, names...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify: %s", out)
	assert.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify has complaints")
}

// TestComposeAndCaddy checks the compose file and the Caddyfile by their
// text: the image from this repository's Dockerfile with its data in a
// named volume, behind Caddy, which is the only service with ports.
func TestComposeAndCaddy(t *testing.T) {
	c := read(t, "compose.yaml")
	for _, want := range []string{"build: ..", "- parley-data:/data", "PARLEY_TRUSTED_PROXIES:", "PARLEY_PUBLIC_URL: https://",
		"condition: service_healthy", "- ./Caddyfile:/etc/caddy/Caddyfile:ro", `- "443:443"`} {
		assert.Contains(t, c, want)
	}
	assert.NotContains(t, c, "\t", "YAML is indented with spaces")
	assert.Len(t, regexp.MustCompile(`(?m)^\s+ports:`).FindAllString(c, -1), 1, "only Caddy publishes ports")
	caddy := read(t, "Caddyfile")
	assert.Contains(t, caddy, "reverse_proxy parley:8080")
}

// TestGrafanaDashboard: the dashboard is valid JSON and every metric it
// queries is one a real server exports.
func TestGrafanaDashboard(t *testing.T) {
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(read(t, "grafana-dashboard.json")), &dash))
	require.NotEmpty(t, dash.Panels)

	db, err := storage.Open(filepath.Join(t.TempDir(), "parley.db"), storage.Options{})
	require.NoError(t, err)
	defer db.Close()
	hub, err := chat.Open(db, chat.Config{})
	require.NoError(t, err)
	api := httpapi.New(hub, httpapi.Config{CustomerSecret: bytes.Repeat([]byte("s"), 32), AgentSecret: db.AgentSecret()})
	defer func() { _ = api.Shutdown(context.Background()) }()
	ms := httptest.NewServer(api.MetricsHandler())
	defer ms.Close()
	resp, err := http.Get(ms.URL + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	families := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(string(body), -1) {
		families[m[1]] = true
	}

	metric := regexp.MustCompile(`\b((?:parley|process|go)_[a-z_]+)`)
	var used []string
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			for _, name := range metric.FindAllString(tg.Expr, -1) {
				family := name
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					if f, ok := strings.CutSuffix(name, suffix); ok && families[f] {
						family = f
					}
				}
				assert.True(t, families[family], "panel %q queries %s, which the server does not export", p.Title, name)
				used = append(used, family)
			}
		}
	}
	sort.Strings(used)
	for _, want := range []string{"parley_connections", "parley_queue_waiting", "parley_queue_oldest_wait_seconds",
		"parley_assignments_total", "parley_messages_total", "parley_storage_commit_duration_seconds", "parley_limits_hit_total"} {
		assert.Contains(t, used, want, "the dashboard shows %s", want)
	}
}
