package cli

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/parley"
)

func newCmdAgent(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Manage agent accounts (works with the server running or stopped)",
	}
	cmd.AddCommand(newCmdAgentAdd(g), newCmdAgentLs(g), newCmdAgentSet(g), newCmdAgentDisable(g), newCmdAgentLogout(g))
	return cmd
}

type agentAddOptions struct {
	name, email   string
	capacity      int
	passwordStdin bool
	queues        []string
}

func newCmdAgentAdd(g *globalOptions) *cobra.Command {
	o := &agentAddOptions{}
	cmd := &cobra.Command{
		Use:   "add --name N --email E [--capacity C] [--queues a,b] --password-stdin",
		Short: "Create an agent account",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !o.passwordStdin {
				return errors.New("give the password on standard input with --password-stdin")
			}
			if o.capacity == 0 {
				// admin.AgentAddArgs reads 0 as "the default"; the flag already
				// defaults, so an explicit 0 is a mistake, not a request for it.
				return parley.Errorf(parley.EBadRequest, "capacity must be between %d and %d.", parley.MinCapacity, parley.MaxCapacity)
			}
			pw, err := readPassword(g)
			if err != nil {
				return err
			}
			var row admin.AgentRow
			err = g.admin(cmd.Context(), "agent.add", admin.AgentAddArgs{
				Name: o.name, Email: o.email, Capacity: o.capacity, Password: pw, Queues: o.queues,
			}, &row)
			if err != nil {
				return err
			}
			return g.printAgents([]admin.AgentRow{row})
		},
	}
	cmd.Flags().StringVar(&o.name, "name", "", "display name shown to customers")
	cmd.Flags().StringVar(&o.email, "email", "", "email address used to sign in")
	cmd.Flags().IntVar(&o.capacity, "capacity", parley.DefaultCapacity, "concurrent chats")
	cmd.Flags().BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from standard input")
	cmd.Flags().StringSliceVar(&o.queues, "queues", nil, "queues the agent serves, comma-separated (default: every queue)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

func newCmdAgentLs(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List agents with their live status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var rows []admin.AgentRow
			if err := g.admin(cmd.Context(), "agent.ls", nil, &rows); err != nil {
				return err
			}
			return g.printAgents(rows)
		},
	}
}

type agentSetOptions struct {
	name          string
	capacity      int
	passwordStdin bool
	enable        bool
	queues        []string
}

func newCmdAgentSet(g *globalOptions) *cobra.Command {
	o := &agentSetOptions{}
	cmd := &cobra.Command{
		Use:   "set EMAIL [--capacity C] [--name N] [--queues a,b] [--password-stdin] [--enable]",
		Short: "Change an agent's capacity, name, queues or password, or re-enable it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a := admin.AgentSetArgs{Email: args[0], Enable: o.enable}
			if cmd.Flags().Changed("capacity") {
				a.Capacity = &o.capacity
			}
			if cmd.Flags().Changed("name") {
				a.Name = &o.name
			}
			if cmd.Flags().Changed("queues") {
				a.Queues = &o.queues
			}
			if o.passwordStdin {
				pw, err := readPassword(g)
				if err != nil {
					return err
				}
				a.Password = &pw
			}
			var row admin.AgentRow
			if err := g.admin(cmd.Context(), "agent.set", a, &row); err != nil {
				return err
			}
			return g.printAgents([]admin.AgentRow{row})
		},
	}
	cmd.Flags().IntVar(&o.capacity, "capacity", parley.DefaultCapacity, "concurrent chats")
	cmd.Flags().StringVar(&o.name, "name", "", "display name")
	cmd.Flags().BoolVar(&o.passwordStdin, "password-stdin", false, "read a new password from standard input")
	cmd.Flags().BoolVar(&o.enable, "enable", false, "re-enable a disabled agent")
	cmd.Flags().StringSliceVar(&o.queues, "queues", nil, `queues the agent serves, comma-separated ("" = every queue)`)
	return cmd
}

func newCmdAgentDisable(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "disable EMAIL",
		Short: "Stop an agent from signing in and getting chats",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var row admin.AgentRow
			if err := g.admin(cmd.Context(), "agent.disable", admin.AgentDisableArgs{Email: args[0]}, &row); err != nil {
				return err
			}
			return g.printAgents([]admin.AgentRow{row})
		},
	}
}

func newCmdAgentLogout(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "logout EMAIL",
		Short: "Revoke an agent's tokens and close its connections; it must sign in again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var row admin.AgentRow
			if err := g.admin(cmd.Context(), "agent.logout", admin.AgentDisableArgs{Email: args[0]}, &row); err != nil {
				return err
			}
			return g.printAgents([]admin.AgentRow{row})
		},
	}
}

func (g *globalOptions) printAgents(rows []admin.AgentRow) error {
	if g.json {
		return g.printJSON(rows)
	}
	out := make([][]string, len(rows))
	for i, r := range rows {
		status := r.Status
		if r.Disabled {
			status = "disabled"
		}
		queues := strings.Join(r.Queues, ",")
		if queues == "" {
			queues = "(all)"
		}
		out[i] = []string{r.ID, r.Name, r.Email, strconv.Itoa(r.Capacity), strconv.Itoa(r.Active), status, queues}
	}
	return g.table([]string{"ID", "NAME", "EMAIL", "CAPACITY", "ACTIVE", "STATUS", "QUEUES"}, out)
}

// readPassword reads one line from standard input.
func readPassword(g *globalOptions) (string, error) {
	line, err := bufio.NewReader(g.streams.In).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("the password on standard input is empty")
	}
	return pw, nil
}
