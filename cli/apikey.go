package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/admin"
)

func newCmdAPIKey(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "apikey", Short: "Manage connectors' API keys (server running or stopped)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "add NAME",
		Short: "Issue a key for POST /v1/connector/messages; it is shown only now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var row admin.APIKeyRow
			if err := g.admin(cmd.Context(), "apikey.add", admin.APIKeyAddArgs{Name: args[0]}, &row); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(row)
			}
			fmt.Fprintf(g.streams.Out, "API key %s for %s (shown only now; Parley keeps only its hash):\n%s\n", row.ID, row.Name, row.Key)
			return nil
		},
	}, &cobra.Command{
		Use:   "ls",
		Short: "List API keys (their first characters only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var rows []admin.APIKeyRow
			if err := g.admin(cmd.Context(), "apikey.ls", nil, &rows); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(rows)
			}
			out := make([][]string, len(rows))
			for i, r := range rows {
				out[i] = []string{r.ID, r.Name, r.Prefix + "…", when(r.CreatedAt)}
			}
			return g.table([]string{"ID", "NAME", "KEY", "CREATED"}, out)
		},
	}, &cobra.Command{
		Use:   "rm ID|NAME",
		Short: "Revoke an API key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var row admin.APIKeyRow
			if err := g.admin(cmd.Context(), "apikey.rm", admin.IDArgs{ID: args[0]}, &row); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(row)
			}
			fmt.Fprintf(g.streams.Out, "Revoked API key %s (%s)\n", row.ID, row.Name)
			return nil
		},
	})
	return cmd
}
