package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/cli"
)

// childEnv makes this test binary act as the parley binary: parley bench
// runs its own executable as the server, which here is the test binary.
const childEnv = "BENCH_TEST_RUN_AS_PARLEY"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Main(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.LookupEnv)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// runBench runs `parley bench args… --json --quiet` and decodes its one
// result line. The targets are never asserted here: these smoke runs only
// keep the scenarios working, in a few seconds each.
func runBench(t *testing.T, args ...string) map[string]any {
	t.Helper()
	t.Setenv(childEnv, "1")
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append([]string{"bench"}, append(args, "--json", "--quiet")...)
	code := cli.Main(ctx, args, cli.Streams{In: bytes.NewReader(nil), Out: &out, Err: &errOut}, func(string) (string, bool) { return "", false })
	require.Equal(t, 0, code, "parley %v failed: %s", args, errOut.String())
	var res map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), "output: %s", out.String())
	return res
}

func TestBenchThroughputSmoke(t *testing.T) {
	res := runBench(t, "throughput", "--customers", "6", "--duration", "1s", "--window", "2")
	assert.Equal(t, "throughput", res["scenario"])
	assert.Greater(t, res["msgs_per_s"], 0.0)
	assert.Greater(t, res["echo_rt_per_s"], 0.0)
	assert.Greater(t, res["ratio_vs_echo"], 0.0)
	assert.Greater(t, res["p99_ms"], 0.0)
	for _, k := range []string{"p50_ms", "p999_ms"} {
		assert.Contains(t, res, k)
	}
	assert.Equal(t, 0.0, res["lost"])
	assert.Equal(t, 0.0, res["duplicated"])
	assert.Equal(t, 0.0, res["errors"])
}

func TestBenchThroughputRateSmoke(t *testing.T) {
	res := runBench(t, "throughput", "--customers", "4", "--duration", "1s", "--rate", "200", "--no-echo")
	assert.Equal(t, 200.0, res["offered_rate"])
	assert.Greater(t, res["msgs_per_s"], 0.0)
	assert.Equal(t, 0.0, res["lost"])
	assert.Equal(t, 0.0, res["duplicated"])
}

func TestBenchConnectionsSmoke(t *testing.T) {
	res := runBench(t, "connections", "--conns", "50", "--settle", "100ms")
	assert.Equal(t, "connections", res["scenario"])
	assert.Equal(t, 50.0, res["connections"])
	assert.Equal(t, 0.0, res["failed"])
	assert.Contains(t, res, "rss_per_conn_kib")
}

func TestBenchRoutingSmoke(t *testing.T) {
	res := runBench(t, "routing", "--customers", "60", "--agents", "3", "--capacity", "10", "--ewt-customers", "12", "--ewt-handle", "400ms")
	assert.Equal(t, "routing", res["scenario"])
	assert.Equal(t, 60.0, res["assignments"])
	assert.Equal(t, 2.0, res["waves"])
	assert.Greater(t, res["assignments_per_s"], 0.0)
	assert.Equal(t, 0.0, res["fifo_violations"])
	assert.Equal(t, 0.0, res["longest_free_violations"])
	assert.Contains(t, res, "ewt_mae_s")
	assert.Greater(t, res["ewt_samples"], 0.0, "customers were given estimates")
}

func TestBenchRecoverySmoke(t *testing.T) {
	res := runBench(t, "recovery", "--events", "2000", "--sessions", "50", "--runs", "1")
	assert.Equal(t, "recovery", res["scenario"])
	assert.Equal(t, 2000.0, res["events"])
	assert.Equal(t, 50.0, res["sessions"])
	assert.Greater(t, res["ready_ms"], 0.0)
}

func TestBenchUnknownScenario(t *testing.T) {
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), []string{"bench", "nope"}, cli.Streams{Out: &out, Err: &errOut},
		func(string) (string, bool) { return "", false })
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut.String(), "unknown scenario")
}

func TestBenchSessionsSmoke(t *testing.T) {
	res := runBench(t, "sessions", "--sessions", "40")
	assert.Equal(t, "sessions", res["scenario"])
	assert.Equal(t, 40.0, res["sessions"])
	assert.Equal(t, 0.0, res["failed"])
	for _, k := range []string{"rss_conns_mib", "rss_sessions_mib", "rss_per_session_kib", "heap_per_session_kib", "goroutines_per_session"} {
		assert.Contains(t, res, k)
	}
	assert.Greater(t, res["rss_sessions_mib"], 0.0)
}

// TestBenchCrashSmoke kills and restarts the server five times while
// customers and agents chat, and requires that nothing acknowledged was
// lost, duplicated or reordered and that the check stayed clean.
func TestBenchCrashSmoke(t *testing.T) {
	res := runBench(t, "crash", "--cycles", "5")
	assert.Equal(t, "crash", res["scenario"])
	assert.Equal(t, 5.0, res["cycles"])
	assert.Greater(t, res["acked"], 0.0)
	for _, k := range []string{"lost", "duplicated", "out_of_order", "check_failures", "errors"} {
		assert.Equal(t, 0.0, res[k], "%s: %v", k, res["first_problem"])
	}
}

func TestBenchNoisySmoke(t *testing.T) {
	res := runBench(t, "noisy", "--customers", "5", "--duration", "1s", "--abuser-conns", "20")
	assert.Equal(t, "noisy", res["scenario"])
	assert.Greater(t, res["p99_ms_alone"], 0.0)
	assert.Greater(t, res["p99_ms_with_abuser"], 0.0)
	assert.Equal(t, 16.0, res["abuser_conns"], "the per-customer cap lets 16 in")
	assert.Equal(t, 4.0, res["abuser_refused"])
	assert.Greater(t, res["abuser_rate_limited"], 0.0)
	assert.Equal(t, 0.0, res["others_failed"], "%v", res["first_error"])
}

// TestBenchRepliesSmoke runs the four reply-amplification attacks on a
// small database and requires that each ran to its end; the RSS target is
// for the full-size run only.
func TestBenchRepliesSmoke(t *testing.T) {
	res := runBench(t, "replies", "--events", "2000", "--sessions", "500", "--stall", "500ms")
	assert.Equal(t, "replies", res["scenario"])
	assert.Equal(t, true, res["completed"], "%v", res)
	assert.Equal(t, 0.0, res["errors"], "%v", res["first_error"])
	assert.Equal(t, 250.0, res["history_sent"])
	assert.Equal(t, 20.0, res["resumed_pages"])
	assert.Equal(t, 10.0, res["transcripts_done"])
	assert.Equal(t, 100.0, res["sessions_replies"])
	assert.Equal(t, 5000.0, res["sessions_listed"], "100 pages of the default 50")
	assert.Greater(t, res["rss_base_mib"], 0.0)
	for _, k := range []string{"rss_peak_mib", "rss_growth_mib", "met", "transcript_mib", "resume_events", "samples"} {
		assert.Contains(t, res, k)
	}
}
