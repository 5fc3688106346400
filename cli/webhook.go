package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/notify"
)

func init() {
	for _, c := range []string{"mail.ls", "webhook.ls", "webhook.deliveries", "apikey.ls"} {
		readOnlyAdmin[c] = true
	}
}

func newCmdWebhook(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "webhook", Short: "Manage webhooks and see their deliveries (server running or stopped)"}
	cmd.AddCommand(newCmdWebhookAdd(g), newCmdWebhookLs(g), newCmdWebhookRm(g), newCmdWebhookDeliveries(g))
	return cmd
}

type webhookAddOptions struct {
	events []string
	secret string
}

func newCmdWebhookAdd(g *globalOptions) *cobra.Command {
	o := &webhookAddOptions{}
	cmd := &cobra.Command{
		Use:   "add URL --events message,session.started,… [--secret S]",
		Short: "POST the chosen events to URL, signed with the secret",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var row admin.WebhookRow
			if err := g.admin(cmd.Context(), "webhook.add", admin.WebhookAddArgs{URL: args[0], Events: o.events, Secret: o.secret}, &row); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(row)
			}
			fmt.Fprintf(g.streams.Out, "Added webhook %s for %s: %s\n", row.ID, strings.Join(row.Events, ","), row.URL)
			if o.secret == "" {
				fmt.Fprintf(g.streams.Out, "Its signing secret (shown only now): %s\n", row.Secret)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&o.events, "events", nil, "events to send: "+strings.Join(notify.EventNames, ","))
	cmd.Flags().StringVar(&o.secret, "secret", "", "HMAC secret of the Parley-Signature header, 16 to 256 bytes (default: generated and shown once)")
	return cmd
}

func newCmdWebhookLs(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List webhooks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var rows []admin.WebhookRow
			if err := g.admin(cmd.Context(), "webhook.ls", nil, &rows); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(rows)
			}
			out := make([][]string, len(rows))
			for i, r := range rows {
				out[i] = []string{r.ID, r.URL, strings.Join(r.Events, ","), when(r.CreatedAt)}
			}
			return g.table([]string{"ID", "URL", "EVENTS", "CREATED"}, out)
		},
	}
}

func newCmdWebhookRm(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "rm ID",
		Short: "Remove a webhook; its pending deliveries go to the dead letter",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var row admin.WebhookRow
			if err := g.admin(cmd.Context(), "webhook.rm", admin.IDArgs{ID: args[0]}, &row); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(row)
			}
			fmt.Fprintf(g.streams.Out, "Removed webhook %s (%s)\n", row.ID, row.URL)
			return nil
		},
	}
}

func newCmdWebhookDeliveries(g *globalOptions) *cobra.Command {
	args := &admin.JobsArgs{}
	cmd := &cobra.Command{
		Use:   "deliveries [--dead] [--webhook ID] [--limit N]",
		Short: "List webhook deliveries, newest first (--dead: the dead letter)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rows []admin.JobRow
			if err := g.admin(cmd.Context(), "webhook.deliveries", args, &rows); err != nil {
				return err
			}
			return g.printJobs(rows)
		},
	}
	cmd.Flags().BoolVar(&args.Dead, "dead", false, "only deliveries that gave up (the dead letter)")
	cmd.Flags().StringVar(&args.Webhook, "webhook", "", "only this webhook's deliveries")
	cmd.Flags().StringVar(&args.State, "state", "", "only pending, sent or dead deliveries")
	cmd.Flags().IntVar(&args.Limit, "limit", 100, "at most this many")
	return cmd
}

func newCmdMail(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "mail", Short: "See the mails of the outbox (server running or stopped)"}
	args := &admin.JobsArgs{}
	ls := &cobra.Command{
		Use:   "ls [--state pending|sent|dead] [--limit N]",
		Short: "List mails, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rows []admin.JobRow
			if err := g.admin(cmd.Context(), "mail.ls", args, &rows); err != nil {
				return err
			}
			return g.printJobs(rows)
		},
	}
	ls.Flags().StringVar(&args.State, "state", "", "only pending, sent or dead mails")
	ls.Flags().IntVar(&args.Limit, "limit", 100, "at most this many")
	cmd.AddCommand(ls)
	return cmd
}

func (g *globalOptions) printJobs(rows []admin.JobRow) error {
	if g.json {
		return g.printJSON(rows)
	}
	out := make([][]string, len(rows))
	for i, r := range rows {
		next := "-"
		if !r.NextAttemptAt.IsZero() {
			next = when(r.NextAttemptAt)
		}
		errText := r.LastError
		if errText == "" {
			errText = "-"
		} else if len(errText) > 60 {
			errText = errText[:60] + "…"
		}
		out[i] = []string{r.ID, r.State, r.Target, r.Summary, strconv.Itoa(r.Attempts), when(r.CreatedAt), next, errText}
	}
	return g.table([]string{"ID", "STATE", "TO", "WHAT", "ATTEMPTS", "CREATED", "NEXT ATTEMPT", "LAST ERROR"}, out)
}
