package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

func when(t parley.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(parley.TimeLayout)
}

func newCmdSessions(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "sessions", Short: "List, show and end sessions"}
	cmd.AddCommand(newCmdSessionsLs(g), newCmdSessionsShow(g), newCmdSessionsEnd(g))
	return cmd
}

type sessionsLsOptions struct {
	customer, state string
	since           time.Duration
	limit           int
}

func newCmdSessionsLs(g *globalOptions) *cobra.Command {
	o := &sessionsLsOptions{}
	cmd := &cobra.Command{
		Use:   "ls [--customer ID] [--state queued|active|ended] [--since 24h]",
		Short: "List sessions, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a := admin.SessionsArgs{CustomerID: o.customer, State: o.state, Limit: o.limit}
			if o.since > 0 {
				a.Since = o.since.String()
			}
			var list []parley.Session
			if err := g.admin(cmd.Context(), "sessions.ls", a, &list); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(list)
			}
			out := make([][]string, len(list))
			for i, s := range list {
				names := make([]string, len(s.Agents))
				for j, a := range s.Agents {
					names[j] = a.Name
				}
				agents := strings.Join(names, ",")
				if agents == "" {
					agents = "-"
				}
				out[i] = []string{s.ID, s.State, s.Customer.ID, agents, when(s.CreatedAt), when(s.EndedAt), strconv.FormatUint(s.LastSeq, 10)}
			}
			return g.table([]string{"SESSION", "STATE", "CUSTOMER", "AGENTS", "CREATED", "ENDED", "EVENTS"}, out)
		},
	}
	cmd.Flags().StringVar(&o.customer, "customer", "", "only this customer's sessions")
	cmd.Flags().StringVar(&o.state, "state", "", "only sessions in this state: queued, active or ended")
	cmd.Flags().Var(newDurationValue(0, &o.since), "since", "only sessions created within this long (e.g. 24h, 7d)")
	cmd.Flags().IntVar(&o.limit, "limit", 0, "at most this many (0 = all)")
	return cmd
}

func newCmdSessionsShow(g *globalOptions) *cobra.Command {
	var transcript bool
	cmd := &cobra.Command{
		Use:   "show ID [--transcript]",
		Short: "Show a session with its participants and events (whispers included)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d admin.SessionDetail
			if err := g.admin(cmd.Context(), "sessions.show", admin.SessionArgs{ID: args[0]}, &d); err != nil {
				return err
			}
			return g.printSession(d, transcript)
		},
	}
	cmd.Flags().BoolVar(&transcript, "transcript", false, "print the conversation as a text transcript")
	return cmd
}

func (g *globalOptions) printSession(d admin.SessionDetail, transcript bool) error {
	if g.json {
		return g.printJSON(d)
	}
	if transcript {
		httpapi.WriteTranscript(g.streams.Out, d.Session, d.Events)
		return nil
	}
	s := d.Session
	// Name and email are optional; leave out the empty ones rather than
	// print trailing blanks.
	who := slices.DeleteFunc([]string{d.Customer.ID, d.Customer.Name, d.Customer.Email}, func(v string) bool { return v == "" })
	fmt.Fprintf(g.streams.Out, "Session:      %s\nState:        %s\nCustomer:     %s\nCreated:      %s\n",
		s.ID, s.State, strings.Join(who, " "), when(s.CreatedAt))
	if !s.EndedAt.IsZero() {
		fmt.Fprintf(g.streams.Out, "Ended:        %s (%s)\n", when(s.EndedAt), s.EndReason)
	}
	fmt.Fprintf(g.streams.Out, "Participants: %s\n\n", strings.Join(d.Participants, ", "))
	rows := make([][]string, len(d.Events))
	for i, e := range d.Events {
		text := e.Text
		if e.Whisper {
			text = "(whisper) " + text
		}
		if e.Reason != "" {
			text = e.Reason
		}
		rows[i] = []string{strconv.FormatUint(e.Seq, 10), when(e.At), e.Kind, e.From.Role + ":" + firstNonEmpty(e.From.Name, e.From.ID), text}
	}
	return g.table([]string{"SEQ", "AT", "KIND", "FROM", "TEXT"}, rows)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func newCmdSessionsEnd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "end ID",
		Short: "End an open session (reason admin); everyone in it is told",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d admin.SessionDetail
			if err := g.admin(cmd.Context(), "sessions.end", admin.SessionArgs{ID: args[0]}, &d); err != nil {
				return err
			}
			return g.printSession(d, false)
		},
	}
}

func newCmdBackup(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the database, also while the server runs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			var res admin.BackupResult
			if err := g.admin(cmd.Context(), "backup", admin.BackupArgs{Path: path}, &res); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(res)
			}
			fmt.Fprintf(g.streams.Out, "Backed up %s to %s (%s).\n", g.dbPath(), res.Path, humanBytes(res.Bytes))
			return nil
		},
	}
}

func newCmdCheck(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "check [FILE]",
		Short: "Check the database (or a backup FILE) read-only: bbolt consistency and Parley's own invariants",
		Long: "Check the database (or a backup FILE): bbolt's page consistency and Parley's own invariants.\n\n" +
			"Without FILE, a running server checks its database through the admin socket; with no server,\n" +
			"the data directory's file is checked directly. A file is opened read-only and never written,\n" +
			"and a file that is not a Parley database is refused.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var rep storage.CheckReport
			if len(args) == 1 {
				r, err := checkFile(args[0])
				if errors.Is(err, storage.ErrLocked) {
					return fmt.Errorf("%w; a running server holds it: run parley check without FILE to check through that server, or check a backup", err)
				} else if err != nil {
					return err
				}
				rep = r
			} else {
				// Not g.admin: its offline path opens the file read-write.
				raw, err := httpapi.DialAdmin(g.socketPath()).Do(cmd.Context(), "check", nil)
				switch {
				case errors.Is(err, httpapi.ErrNoServer):
					if _, err := os.Stat(g.data); err != nil {
						return fmt.Errorf("no data directory at %s (run parley serve once, or pass --data): %w", g.data, err)
					}
					r, err := checkFile(g.dbPath())
					if errors.Is(err, storage.ErrLocked) {
						return fmt.Errorf("%s is locked by a running server, but its admin socket %s does not answer; "+
							"check that the server is healthy, or stop it and retry", g.dbPath(), g.socketPath())
					} else if err != nil {
						return err
					}
					rep = r
				case err != nil:
					return err
				default:
					if err := json.Unmarshal(raw, &rep); err != nil {
						return fmt.Errorf("decode the server's check report: %w", err)
					}
				}
			}
			if g.json {
				if err := g.printJSON(rep); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(g.streams.Out, "Checked %s, %s, %s, %s, %s.\n",
					countNoun(rep.Sessions, "session", "sessions"), countNoun(rep.Events, "event", "events"),
					countNoun(rep.Agents, "agent", "agents"), countNoun(rep.Holds, "hold", "holds"),
					countNoun(rep.AuditEntries, "audit entry", "audit entries"))
				if rep.Files > 0 {
					fmt.Fprintf(g.streams.Out, "Read %s of %s and verified their SHA-256.\n",
						countNoun(rep.Blobs, "blob", "blobs"), countNoun(rep.Files, "file", "files"))
				}
				for _, p := range rep.Problems {
					fmt.Fprintln(g.streams.Out, "PROBLEM:", p)
				}
			}
			if len(rep.Problems) > 0 {
				return fmt.Errorf("the database has %d problem(s)", len(rep.Problems))
			}
			if !g.json {
				fmt.Fprintln(g.streams.Out, "OK")
			}
			return nil
		},
	}
}

func newCmdStats(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Show open sessions, the queue, agents and the database size",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var st admin.StatsResult
			if err := g.admin(cmd.Context(), "stats", nil, &st); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(st)
			}
			server := "stopped"
			if st.Online {
				server = "running"
			}
			rows := [][]string{
				{"server", server},
				{"open sessions", strconv.Itoa(st.OpenSessions)},
				{"queued", strconv.Itoa(st.Queued)},
				{"oldest wait", (time.Duration(st.OldestWaitS) * time.Second).String()},
			}
			for _, s := range []string{parley.StatusAvailable, parley.StatusDraining, parley.StatusBreak, parley.StatusOffline} {
				rows = append(rows, []string{"agents " + s, strconv.Itoa(st.AgentsByStatus[s])})
			}
			if st.Online {
				rows = append(rows, []string{"connections", strconv.Itoa(st.Connections)})
			}
			rows = append(rows, []string{"database size", humanBytes(st.DatabaseBytes)})
			return g.table([]string{"WHAT", "VALUE"}, rows)
		},
	}
}

// humanBytes prints a byte count in KiB/MiB/GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// checkFile checks a database file that no server uses, such as a backup.
// It opens the file read-only, so it never writes to it, and refuses a file
// that is not a Parley database.
func checkFile(path string) (storage.CheckReport, error) {
	db, err := storage.OpenReadOnly(path, storage.Options{Timeout: time.Second})
	if err != nil {
		return storage.CheckReport{}, err
	}
	defer db.Close()
	return db.Check()
}
