package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/bench"
)

// benchScenarios are the scenarios of parley bench, in the order "all"
// runs them.
var benchScenarios = []string{"throughput", "connections", "routing", "recovery", "sessions", "noisy", "replies", "crash"}

type benchOptions struct {
	url       string
	serverCmd string
	serverPID int
	quiet     bool
	serverLog bool

	customers int
	agents    int
	window    int
	duration  time.Duration
	rate      float64
	size      int
	noEcho    bool

	conns  int
	settle time.Duration

	capacity int
	// ewtCustomers and ewtHandle size routing's wait-estimate phase.
	ewtCustomers int
	ewtHandle    time.Duration

	events   int
	sessions int
	runs     int

	cycles      int
	onset       time.Duration
	abuserConns int
	floodToken  string
	stall       time.Duration
}

func newCmdBench(g *globalOptions) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench SCENARIO",
		Short: "Measure a server under load: throughput, connections, routing, recovery, sessions, noisy, replies, crash or all",
		Long: "Drive a Parley server with simulated customers and agents over real WebSockets and measure it.\n" +
			"The server is a child process on a temporary data directory, or the running one at --url\n" +
			"(with --data naming its data directory). Scenarios:\n\n" +
			"  throughput   customers and agents chat as fast as acknowledgements allow (or at --rate);\n" +
			"               messages/s, latency, loss check, and a plain WebSocket echo baseline\n" +
			"  connections  idle customer connections; the server's memory per connection\n" +
			"  routing      a queue served by agents; assignments/s, FIFO and longest-free checks\n" +
			"  recovery     time from start to /readyz on a large database\n" +
			"  sessions     queued sessions on idle customer connections; the server's memory per session\n" +
			"  noisy        customers chat alone, then while one customer floods; their p99 ack latency\n" +
			"  replies      four reply-amplification attacks at once (unread history, pipelined resumes,\n" +
			"               slow JSON transcripts, a 15,000-session sessions list); the server's RSS growth\n" +
			"  crash        kill -9 and restart the server at random moments while clients chat; checks\n" +
			"               that every acknowledged message is stored once, in order, and check is clean\n" +
			"  all          every scenario in turn\n\n" +
			"Progress goes to stderr; results to stdout, one JSON object per scenario with --json.\n" +
			"See docs/performance.md.",
		Args:      cobra.ExactArgs(1),
		ValidArgs: append(benchScenarios, "all"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd, g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "", "base URL of a running server to measure instead of a child (needs --data)")
	f.IntVar(&o.serverPID, "server-pid", 0, "process id of the server at --url, to read its memory use")
	f.StringVar(&o.serverCmd, "server-cmd", "", "executable to run as the child server instead of this one (for profiling builds)")
	_ = f.MarkHidden("server-cmd")
	f.BoolVar(&o.quiet, "quiet", false, "no live status on stderr")
	f.BoolVar(&o.serverLog, "server-log", false, "show the child server's log on stderr")
	f.IntVar(&o.customers, "customers", 0, "customers (throughput: 100; routing: 10000; noisy: 100)")
	f.IntVar(&o.agents, "agents", 0, "agents (throughput: customers/2 with capacity 2; routing: 100)")
	f.IntVar(&o.window, "window", 4, "throughput: messages in flight per sender")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "throughput: how long to send; noisy: how long each phase lasts")
	f.Float64Var(&o.rate, "rate", 0, "throughput: fixed offered load in messages/s over all senders (0: as fast as acknowledgements allow)")
	f.IntVar(&o.size, "size", 64, "throughput: message text size in bytes")
	f.BoolVar(&o.noEcho, "no-echo", false, "throughput: skip the echo baseline")
	f.IntVar(&o.conns, "conns", 0, "connections: idle connections (default: the file limit less a reserve)")
	f.DurationVar(&o.settle, "settle", 3*time.Second, "connections: wait before reading the server's memory")
	f.IntVar(&o.capacity, "capacity", 50, "routing: capacity of each agent")
	f.IntVar(&o.ewtCustomers, "ewt-customers", 0, "routing: customers of the wait-estimate phase (default 60)")
	f.DurationVar(&o.ewtHandle, "ewt-handle", 0, "routing: mean handle time in the wait-estimate phase (default 2s)")
	f.IntVar(&o.events, "events", 1_000_000, "recovery: events in the database; replies: events in the long session (default 30000)")
	f.IntVar(&o.sessions, "sessions", 10_000, "recovery: open sessions in the database; sessions: queued sessions; replies: sessions of one customer (default 15000)")
	f.DurationVar(&o.stall, "stall", 3*time.Second, "replies: how long the late readers wait before reading")
	f.IntVar(&o.abuserConns, "abuser-conns", 64, "noisy: sockets the abusive customer tries to open")
	f.DurationVar(&o.onset, "onset", 2*time.Second, "noisy: how long the flood runs before the phase measured with it")
	// noisy runs its abusive customer as "parley bench flood", a process of
	// its own; the scenario is not listed and not part of all.
	f.StringVar(&o.floodToken, "flood-token", "", "flood: the abusive customer's token")
	_ = f.MarkHidden("flood-token")
	f.IntVar(&o.runs, "runs", 3, "recovery: server starts to time (the median is reported)")
	f.IntVar(&o.cycles, "cycles", 10, "crash: how many times to kill and restart the server")
	return cmd
}

func runBench(cmd *cobra.Command, g *globalOptions, o *benchOptions, scenario string) error {
	if scenario == "flood" {
		return bench.RunFlood(cmd.Context(), o.url, o.floodToken, o.abuserConns, g.streams.In, g.streams.Out)
	}
	scenarios := []string{scenario}
	if scenario == "all" {
		scenarios = benchScenarios
	} else if !slices.Contains(benchScenarios, scenario) {
		return fmt.Errorf("unknown scenario %q; use one of %s or all", scenario, strings.Join(benchScenarios, ", "))
	}
	if _, err := bench.RaiseFileLimit(); err != nil {
		return fmt.Errorf("raise the file limit: %w", err)
	}
	errOut := g.streams.Err
	if errOut == nil {
		errOut = os.Stderr
	}
	opts := bench.Options{URL: o.url, ServerPID: o.serverPID}
	if o.serverCmd != "" {
		opts.Command = []string{o.serverCmd}
	}
	if o.url != "" {
		opts.Data = g.data
	}
	if !o.quiet {
		opts.Status = errOut
	}
	if o.serverLog {
		opts.ServerLog = errOut
	}
	ctx := cmd.Context()
	for _, sc := range scenarios {
		var (
			res any
			err error
		)
		switch sc {
		case "throughput":
			res, err = bench.Throughput(ctx, opts, bench.ThroughputConfig{
				Customers: o.customers, Agents: o.agents, Window: o.window, Duration: o.duration,
				Rate: o.rate, Size: o.size, NoEcho: o.noEcho,
			})
		case "connections":
			res, err = bench.Connections(ctx, opts, bench.ConnectionsConfig{Conns: o.conns, Settle: o.settle})
		case "routing":
			res, err = bench.Routing(ctx, opts, bench.RoutingConfig{
				Customers: o.customers, Agents: o.agents, Capacity: o.capacity,
				EWTCustomers: o.ewtCustomers, EWTHandle: o.ewtHandle,
			})
		case "recovery":
			res, err = bench.Recovery(ctx, opts, bench.RecoveryConfig{Events: o.events, Sessions: o.sessions, Runs: o.runs})
		case "sessions":
			res, err = bench.Sessions(ctx, opts, bench.SessionsConfig{Sessions: o.sessions})
		case "crash":
			res, err = bench.Crash(ctx, opts, bench.CrashConfig{Cycles: o.cycles})
		case "replies":
			cfg := bench.RepliesConfig{Stall: o.stall}
			// The shared flags' defaults are other scenarios'; replies
			// takes them only when given.
			if f := cmd.Flags(); f.Changed("events") {
				cfg.Events = o.events
			}
			if f := cmd.Flags(); f.Changed("sessions") {
				cfg.Sessions = o.sessions
			}
			if cmd.Flags().Changed("duration") {
				cfg.Duration = o.duration
			}
			res, err = bench.Replies(ctx, opts, cfg)
		case "noisy":
			res, err = bench.Noisy(ctx, opts, bench.NoisyConfig{Customers: o.customers, Duration: o.duration, AbuserConns: o.abuserConns, Onset: o.onset})
		}
		if err != nil {
			return fmt.Errorf("bench %s: %w", sc, err)
		}
		if err := printBenchResult(g.streams.Out, g.json, res); err != nil {
			return err
		}
	}
	return nil
}

// printBenchResult prints one result as a JSON line or as aligned
// "name  value" lines named by the JSON fields.
func printBenchResult(w io.Writer, asJSON bool, res any) error {
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if asJSON {
		_, err := fmt.Fprintf(w, "%s\n", b)
		return err
	}
	v := reflect.ValueOf(res).Elem()
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		fv := v.Field(i)
		if fv.IsZero() && strings.Contains(t.Field(i).Tag.Get("json"), "omitempty") {
			continue
		}
		fmt.Fprintf(w, "%-26s %v\n", name, fv.Interface())
	}
	_, err = fmt.Fprintln(w)
	return err
}
