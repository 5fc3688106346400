package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/parley"
)

type tokenOptions struct {
	sub, name, email, profile string
	secret                    string
	ttl                       time.Duration
}

func newCmdToken(g *globalOptions) *cobra.Command {
	o := &tokenOptions{}
	cmd := &cobra.Command{
		Use:   "token --sub ID [--name N] [--email E] [--ttl 1h]",
		Short: "Mint a customer token with the configured secret, for testing and scripts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			secret := []byte(o.secret)
			if o.secret == "" {
				// Only a server's own data directory holds the secret it
				// verifies with; a token signed with a secret made up here
				// would be refused.
				if err := g.requireData(); err != nil {
					return err
				}
				var err error
				if secret, err = auth.LoadOrCreateSecret(g.secretPath()); err != nil {
					return fmt.Errorf("customer secret: %w", err)
				}
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
	_ = cmd.MarkFlagRequired("sub")
	return cmd
}
