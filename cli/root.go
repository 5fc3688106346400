// Package cli is Parley's command line: cobra commands, flags and the
// wiring of the server.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/parley-chat/parley/parley"
)

// Streams are the standard streams a command uses.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// globalOptions are the flags every command shares.
type globalOptions struct {
	streams Streams
	lookup  func(string) (string, bool)
	data    string
	json    bool
}

func (g *globalOptions) dbPath() string     { return filepath.Join(g.data, "parley.db") }
func (g *globalOptions) socketPath() string { return filepath.Join(g.data, "admin.sock") }
func (g *globalOptions) secretPath() string { return filepath.Join(g.data, "customer-secret") }

// Main runs the command line with args and returns the exit code. lookup
// reads environment variables (os.LookupEnv in production).
func Main(ctx context.Context, args []string, streams Streams, lookup func(string) (string, bool)) int {
	root := NewRootCmd(streams, lookup)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(streams.Err, "parley:", describeError(err))
		return 1
	}
	return 0
}

// describeError says what went wrong in one clean line. An error carrying
// a *parley.Error meant for people (any code but internal) is its message,
// without the layers of context wrapped around it on the way up; a file
// error is said once ("open /x/parley.db: permission denied"), not once per
// layer that added the path; anything else prints as is.
func describeError(err error) string {
	var e *parley.Error
	if errors.As(err, &e) && e.Code != parley.EInternal {
		return e.Message
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Error()
	}
	return err.Error()
}

// NewRootCmd builds the parley command tree.
func NewRootCmd(streams Streams, lookup func(string) (string, bool)) *cobra.Command {
	g := &globalOptions{streams: streams, lookup: lookup}
	root := &cobra.Command{
		Use:   "parley",
		Short: "Parley is a self-hosted customer-support chat server",
		Long: "Parley serves customers and support agents over WebSocket from one binary and one data file.\n" +
			"Every flag can also be set with an environment variable: --data is PARLEY_DATA, --listen is PARLEY_LISTEN, and so on.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return bindEnv(cmd, lookup)
		},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	root.PersistentFlags().StringVar(&g.data, "data", "./parley-data", "data directory holding the database and the admin socket")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print JSON instead of a table")
	root.AddCommand(
		newCmdServe(g),
		newCmdAgent(g),
		newCmdToken(g),
		newCmdQueue(g),
		newCmdSessions(g),
		newCmdPurge(g),
		newCmdErase(g),
		newCmdHold(g),
		newCmdAudit(g),
		newCmdBackup(g),
		newCmdCheck(g),
		newCmdStats(g),
		newCmdReport(g),
		newCmdCompact(g),
		newCmdBench(g),
		newCmdVersion(g),
		newCmdHealthcheck(g),
		newCmdMail(g),
		newCmdWebhook(g),
		newCmdAPIKey(g),
	)
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command group (agent, queue, …)
// fail on an unknown subcommand, as the root does, instead of printing its
// help and exiting 0 as if it had worked. Without arguments a group still
// prints its help.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if cmd.HasParent() && cmd.HasSubCommands() && !cmd.Runnable() {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
		}
	}
}

// envName is the environment variable of a flag: --customer-secret is
// PARLEY_CUSTOMER_SECRET.
func envName(flag string) string {
	return "PARLEY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// bindEnv sets every flag not given on the command line from its
// environment variable, if set.
func bindEnv(cmd *cobra.Command, lookup func(string) (string, bool)) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		if v, ok := lookup(envName(f.Name)); ok {
			if serr := f.Value.Set(v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, serr)
			} else {
				f.Changed = true
			}
		}
	})
	return err
}
