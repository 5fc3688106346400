package cli

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/parley"
)

type tokenOptions struct {
	sub, name, email, profile string
	secret, secretFile        string
	ttl                       time.Duration
}

func newCmdToken(g *globalOptions) *cobra.Command {
	o := &tokenOptions{}
	cmd := &cobra.Command{
		Use:   "token --sub ID [--name N] [--email E] [--ttl 1h]",
		Short: "Mint a customer token with the configured secret, for testing and scripts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Only a server's own data directory (or the secret it was
			// given) verifies the token; a secret made up here would not.
			if o.secret == "" && o.secretFile == "" {
				if err := g.requireData(); err != nil {
					return err
				}
			}
			log := slog.New(slog.NewTextHandler(g.streams.Err, nil))
			secret, err := resolveSecret(g, o.secret, o.secretFile, log)
			if err != nil {
				return err
			}
			if o.ttl <= 0 {
				return fmt.Errorf("--ttl must be positive")
			}
			if o.ttl > httpapi.DefaultMaxTokenTTL {
				fmt.Fprintf(g.streams.Err, "warning: a server with the default --max-token-ttl (%s) refuses a token valid for %s\n",
					httpapi.DefaultMaxTokenTTL, o.ttl)
			}
			c := parley.Customer{ID: o.sub, Name: o.name, Email: o.email}
			if o.profile != "" {
				c.Profile = json.RawMessage(o.profile)
			}
			now := time.Now()
			tok, err := auth.SignCustomer(secret, c, o.ttl, now)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"token": tok, "expires_at": parley.TimeOf(now.Add(o.ttl))})
			}
			fmt.Fprintln(g.streams.Out, tok)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.sub, "sub", "", "customer id (the token's sub)")
	cmd.Flags().StringVar(&o.name, "name", "", "customer name")
	cmd.Flags().StringVar(&o.email, "email", "", "customer email")
	cmd.Flags().StringVar(&o.profile, "profile", "", "profile JSON object shown to agents")
	cmd.Flags().Var(newDurationValue(time.Hour, &o.ttl), "ttl", "how long the token is valid (e.g. 15m, 1h, 1d)")
	cmd.Flags().StringVar(&o.secret, "customer-secret", "", "secret to sign with (default: the one in the data directory)")
	cmd.Flags().StringVar(&o.secretFile, "customer-secret-file", "", "file holding the secret to sign with (keeps it off the command line)")
	_ = cmd.MarkFlagRequired("sub")
	return cmd
}
