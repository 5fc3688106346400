package cli

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

type purgeOptions struct {
	olderThan time.Duration
	retention time.Duration
	dryRun    bool
}

func newCmdPurge(g *globalOptions) *cobra.Command {
	o := &purgeOptions{}
	cmd := &cobra.Command{
		Use:   "purge [--older-than 90d] [--dry-run]",
		Short: "Remove sessions that ended longer ago than the given age, by default the retention (legal holds are kept)",
		Long: "Remove sessions that ended longer ago than --older-than, by default the retention that\n" +
			"serve uses (--retention, PARLEY_RETENTION, 90d unless set). Legal holds are kept.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("older-than") {
				if o.retention == 0 {
					return errors.New("the retention is 0 (keep forever); pass --older-than to purge anyway")
				}
				o.olderThan = o.retention
			}
			var res admin.PurgeResult
			err := g.admin(cmd.Context(), "purge", admin.PurgeArgs{OlderThan: parley.FormatDuration(o.olderThan), DryRun: o.dryRun}, &res)
			if err != nil {
				return err
			}
			return g.printPurge(res, "Purged")
		},
	}
	cmd.Flags().Var(newDurationValue(0, &o.olderThan), "older-than", "remove sessions that ended longer ago than this (e.g. 90d; default: --retention)")
	cmd.Flags().Var(newDurationValue(parley.DefaultRetentionDays*24*time.Hour, &o.retention), "retention",
		"the retention to purge by when --older-than is not given, as serve's --retention")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "only say what would be removed")
	return cmd
}

func (g *globalOptions) printPurge(res admin.PurgeResult, verb string) error {
	if g.json {
		return g.printJSON(res)
	}
	if res.DryRun {
		verb = "Would remove"
	}
	fmt.Fprintf(g.streams.Out, "%s %s, %s, %s.", verb, countNoun(res.Sessions, "session", "sessions"),
		countNoun(res.Events, "event", "events"), humanBytes(res.Bytes))
	if res.Held > 0 {
		fmt.Fprintf(g.streams.Out, " Kept %s under legal hold.", countNoun(res.Held, "session", "sessions"))
	}
	fmt.Fprintln(g.streams.Out)
	return nil
}

// countNoun says n things, in the singular for one.
func countNoun(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

type eraseOptions struct {
	customer string
	dryRun   bool
}

func newCmdErase(g *globalOptions) *cobra.Command {
	o := &eraseOptions{}
	cmd := &cobra.Command{
		Use:   "erase --customer ID [--dry-run]",
		Short: "Remove everything about one customer (data-subject erasure); an open session is ended first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var res admin.PurgeResult
			if err := g.admin(cmd.Context(), "erase", admin.EraseArgs{CustomerID: o.customer, DryRun: o.dryRun}, &res); err != nil {
				return err
			}
			return g.printPurge(res, "Erased")
		},
	}
	cmd.Flags().StringVar(&o.customer, "customer", "", "the customer's id")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "only say what would be removed")
	_ = cmd.MarkFlagRequired("customer")
	return cmd
}

type holdOptions struct{ customer, reason string }

func newCmdHold(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "hold", Short: "Legal holds: keep a customer's sessions from being purged"}
	o := &holdOptions{}
	add := &cobra.Command{
		Use:   "add --customer ID [--reason R]",
		Short: "Place a legal hold on a customer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var h parley.Hold
			if err := g.admin(cmd.Context(), "hold.add", admin.HoldArgs{CustomerID: o.customer, Reason: o.reason}, &h); err != nil {
				return err
			}
			return g.printHolds([]parley.Hold{h})
		},
	}
	add.Flags().StringVar(&o.customer, "customer", "", "the customer's id")
	add.Flags().StringVar(&o.reason, "reason", "", "why (e.g. a case number)")
	_ = add.MarkFlagRequired("customer")
	rm := &cobra.Command{
		Use:   "rm --customer ID",
		Short: "Release a customer's legal hold",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.admin(cmd.Context(), "hold.rm", admin.HoldArgs{CustomerID: o.customer}, nil); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]string{"released": o.customer})
			}
			fmt.Fprintf(g.streams.Out, "Released the legal hold on %s.\n", o.customer)
			return nil
		},
	}
	rm.Flags().StringVar(&o.customer, "customer", "", "the customer's id")
	_ = rm.MarkFlagRequired("customer")
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List legal holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var hs []parley.Hold
			if err := g.admin(cmd.Context(), "hold.ls", nil, &hs); err != nil {
				return err
			}
			return g.printHolds(hs)
		},
	}
	cmd.AddCommand(add, rm, ls)
	return cmd
}

func (g *globalOptions) printHolds(hs []parley.Hold) error {
	if g.json {
		return g.printJSON(hs)
	}
	rows := make([][]string, len(hs))
	for i, h := range hs {
		rows[i] = []string{h.CustomerID, when(h.CreatedAt), firstNonEmpty(h.Reason, "-")}
	}
	return g.table([]string{"CUSTOMER", "SINCE", "REASON"}, rows)
}

func newCmdAudit(g *globalOptions) *cobra.Command {
	var (
		since time.Duration
		limit int
	)
	cmd := &cobra.Command{Use: "audit", Short: "The audit log of purges, erasures, holds and admin ends"}
	ls := &cobra.Command{
		Use:   "ls [--since 30d] [--limit N]",
		Short: "List audit entries, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a := admin.AuditArgs{Limit: limit}
			if since > 0 {
				a.Since = since.String()
			}
			var es []parley.AuditEntry
			if err := g.admin(cmd.Context(), "audit.ls", a, &es); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(es)
			}
			rows := make([][]string, len(es))
			for i, e := range es {
				rows[i] = []string{when(e.At), e.Action, e.Actor, firstNonEmpty(e.CustomerID, e.SessionID, "-"),
					strconv.Itoa(e.Sessions), strconv.Itoa(e.Events), humanBytes(e.Bytes), firstNonEmpty(e.Detail, "-")}
			}
			return g.table([]string{"AT", "ACTION", "ACTOR", "SUBJECT", "SESSIONS", "EVENTS", "BYTES", "DETAIL"}, rows)
		},
	}
	ls.Flags().Var(newDurationValue(0, &since), "since", "only entries within this long (e.g. 30d)")
	ls.Flags().IntVar(&limit, "limit", 0, "at most this many (0 = all)")
	cmd.AddCommand(ls)
	return cmd
}

func newCmdCompact(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "compact",
		Short: "Rewrite the database file to reclaim space (server must be stopped)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := httpapi.DialAdmin(g.socketPath()).Do(cmd.Context(), "stats", nil); err == nil {
				return errors.New("the server is running; stop it before compacting")
			}
			if err := g.requireData(); err != nil {
				return err
			}
			before, after, err := storage.CompactInPlace(g.dbPath(), time.Second)
			if errors.Is(err, storage.ErrLocked) {
				return fmt.Errorf("%s is locked by a running server; stop it before compacting", g.dbPath())
			} else if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]int64{"before_bytes": before, "after_bytes": after})
			}
			fmt.Fprintf(g.streams.Out, "Compacted %s: %s before, %s after.\n", g.dbPath(), humanBytes(before), humanBytes(after))
			return nil
		},
	}
}
