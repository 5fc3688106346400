package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/parley"
)

// reportOptions are the flags of parley report agents and queue.
type reportOptions struct {
	since time.Duration
	until string
	by    string
}

func (o *reportOptions) args() admin.ReportArgs {
	return admin.ReportArgs{Since: parley.FormatDuration(o.since), Until: o.until, By: o.by}
}

func (o *reportOptions) flags(cmd *cobra.Command) {
	cmd.Flags().Var(newDurationValue(7*24*time.Hour, &o.since), "since", "report on this long before --until (e.g. 7d, 24h)")
	cmd.Flags().StringVar(&o.until, "until", "", "end of the window, an RFC 3339 time (default: now)")
}

func newCmdReport(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Reports: what the agents did and how the queue fared",
		Long: "Reports over a window of time, from the stored sessions and the agents' status history.\n" +
			"Both work with the server running (through its admin socket) or stopped (on the file).",
	}
	cmd.AddCommand(newCmdReportAgents(g), newCmdReportQueue(g))
	return cmd
}

func newCmdReportAgents(g *globalOptions) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "agents [--since 7d] [--until TIME]",
		Short: "Per agent: chats handled, first-response and handle times, time in each status",
		Long: "Per agent, within the window: the chats it joined, the median and 90th percentile of the time\n" +
			"from joining to its first message, the median time from joining to leaving or the end (of the\n" +
			"chats that are over), and the time it spent available, draining, on break and offline\n" +
			"(offline includes having no connection).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var rep admin.AgentReport
			if err := g.admin(cmd.Context(), "report.agents", o.args(), &rep); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(rep)
			}
			rows := make([][]string, len(rep.Agents))
			for i, r := range rep.Agents {
				rows[i] = []string{
					firstNonEmpty(r.Name, r.AgentID), strconv.Itoa(r.ChatsHandled),
					reportSeconds(r.FirstResponseP50), reportSeconds(r.FirstResponseP90), reportSeconds(r.HandleP50),
					reportDuration(r.AvailableS), reportDuration(r.DrainingS), reportDuration(r.BreakS), reportDuration(r.OfflineS),
				}
			}
			return g.table([]string{"AGENT", "CHATS", "FIRST REPLY P50", "FIRST REPLY P90", "HANDLE P50",
				"AVAILABLE", "DRAINING", "BREAK", "OFFLINE"}, rows)
		},
	}
	o.flags(cmd)
	return cmd
}

func newCmdReportQueue(g *globalOptions) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "queue [--since 7d] [--until TIME] [--by hour|day]",
		Short: "Per queue (and hour or day): arrivals, served, abandoned, waits",
		Long: "Per queue, of the sessions that arrived within the window (or within each hour or day of it,\n" +
			"in UTC, with --by): how many arrived, got an agent, ended without one, or still wait, and the\n" +
			"median, 90th percentile and longest wait from arrival to the first agent.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch o.by {
			case "", "hour", "day":
			default:
				return fmt.Errorf("--by must be hour or day, not %q", o.by)
			}
			var rep admin.QueueReport
			if err := g.admin(cmd.Context(), "report.queue", o.args(), &rep); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(rep)
			}
			header := []string{"QUEUE", "ARRIVALS", "SERVED", "ABANDONED", "WAITING", "WAIT P50", "WAIT P90", "WAIT MAX"}
			if rep.By != "" {
				header = append([]string{"FROM"}, header...)
			}
			rows := make([][]string, len(rep.Rows))
			for i, r := range rep.Rows {
				row := []string{r.Queue, strconv.Itoa(r.Arrivals), strconv.Itoa(r.Served), strconv.Itoa(r.Abandoned),
					strconv.Itoa(r.Waiting), reportSeconds(r.WaitP50), reportSeconds(r.WaitP90), reportSeconds(r.WaitMaxS)}
				if rep.By != "" {
					row = append([]string{when(r.Start)}, row...)
				}
				rows[i] = row
			}
			return g.table(header, rows)
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&o.by, "by", "", "one row per hour or day (UTC) and queue: hour or day")
	return cmd
}

// reportSeconds prints a measured duration, or "-" for none.
func reportSeconds(s *float64) string {
	if s == nil {
		return "-"
	}
	return reportDuration(*s)
}

// reportDuration prints seconds as a short duration: "45s", "1m30s",
// "2h5m", with milliseconds only under ten seconds ("1.25s").
func reportDuration(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Millisecond)
	if d >= 10*time.Second {
		d = d.Round(time.Second)
	}
	if d == 0 {
		return "0s"
	}
	out := d.String()
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return out
}
