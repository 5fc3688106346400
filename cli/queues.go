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

func newCmdQueue(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Manage queues and inspect waiting customers (works with the server running or stopped)",
	}
	cmd.AddCommand(newCmdQueueLs(g), newCmdQueueAdd(g), newCmdQueueRm(g), newCmdQueueExplain(g))
	return cmd
}

type queueLsOptions struct {
	sessions bool
	queue    string
}

func newCmdQueueLs(g *globalOptions) *cobra.Command {
	o := &queueLsOptions{}
	cmd := &cobra.Command{
		Use:   "ls [--sessions [--queue NAME]]",
		Short: "List queues (waiting, oldest wait, agents serving), or with --sessions the waiting sessions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.sessions || o.queue != "" {
				return g.queueSessions(cmd, o.queue)
			}
			var rows []admin.QueueListRow
			if err := g.admin(cmd.Context(), "queues.ls", nil, &rows); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(rows)
			}
			out := make([][]string, len(rows))
			for i, r := range rows {
				out[i] = []string{r.Name, strconv.Itoa(r.Waiting), seconds(r.OldestWaitS), strconv.Itoa(r.AgentsServing),
					strconv.Itoa(r.AgentsAvailable), firstNonEmpty(r.Greeting, "-")}
			}
			return g.table([]string{"QUEUE", "WAITING", "OLDEST WAIT", "AGENTS SERVING", "AVAILABLE", "GREETING"}, out)
		},
	}
	cmd.Flags().BoolVar(&o.sessions, "sessions", false, "list the waiting sessions, longest waiting first")
	cmd.Flags().StringVar(&o.queue, "queue", "", "with --sessions: only this queue's sessions")
	return cmd
}

func seconds(s int) string { return (time.Duration(s) * time.Second).String() }

// queueSessions lists the waiting sessions, of one queue if named.
func (g *globalOptions) queueSessions(cmd *cobra.Command, queue string) error {
	var rows []admin.QueueRow
	if err := g.admin(cmd.Context(), "queue.ls", admin.QueueArgs{Queue: queue}, &rows); err != nil {
		return err
	}
	if g.json {
		return g.printJSON(rows)
	}
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = []string{r.Queue, strconv.Itoa(r.Position), r.SessionID, r.CustomerID, when(r.WaitingSince), seconds(r.WaitS)}
	}
	return g.table([]string{"QUEUE", "POSITION", "SESSION", "CUSTOMER", "WAITING SINCE", "WAIT"}, out)
}

func newCmdQueueAdd(g *globalOptions) *cobra.Command {
	var greeting string
	cmd := &cobra.Command{
		Use:   "add NAME [--greeting TEXT]",
		Short: "Create a queue; customers start in it with {\"type\":\"start\",\"queue\":\"NAME\"}",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var row admin.QueueListRow
			if err := g.admin(cmd.Context(), "queue.add", admin.QueueAddArgs{Name: args[0], Greeting: greeting}, &row); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(row)
			}
			fmt.Fprintf(g.streams.Out, "Added queue %s.\n", row.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&greeting, "greeting", "", "a system message stored when a session starts in the queue")
	return cmd
}

func newCmdQueueRm(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a queue (refused while sessions wait in it; the default queue stays)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var row admin.QueueListRow
			if err := g.admin(cmd.Context(), "queue.rm", admin.QueueNameArgs{Name: args[0]}, &row); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(row)
			}
			fmt.Fprintf(g.streams.Out, "Removed queue %s.\n", row.Name)
			return nil
		},
	}
}

func newCmdQueueExplain(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "explain SESSION",
		Short: "Say why a session waits (who is ahead, why no agent has it) or why it went to its agent",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var x admin.Explanation
			if err := g.admin(cmd.Context(), "queue.explain", admin.ExplainArgs{ID: args[0]}, &x); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(x)
			}
			return g.printExplanation(x)
		},
	}
}

func (g *globalOptions) printExplanation(x admin.Explanation) error {
	w := g.streams.Out
	fmt.Fprintf(w, "Session:  %s\nState:    %s\nQueue:    %s\n", x.SessionID, x.State, x.Queue)
	if x.State == parley.StateQueued && x.Position > 0 {
		fmt.Fprintf(w, "Position: %d (%d ahead", x.Position, x.Ahead)
		if len(x.AheadSessions) > 0 {
			fmt.Fprintf(w, ": %s", strings.Join(x.AheadSessions, ", "))
			if x.Ahead > len(x.AheadSessions) {
				fmt.Fprint(w, ", …")
			}
		}
		fmt.Fprintln(w, ")")
	}
	fmt.Fprintf(w, "Why:      %s\n", x.Why)
	name := func(id string) string { return firstNonEmpty(x.AgentNames[id], id) }
	var cands []parley.RoutingCandidate
	title := ""
	switch {
	case x.State == parley.StateQueued:
		cands, title = x.Agents, "Agents:"
	case x.Routing != nil && !x.Routing.Manual:
		cands, title = x.Routing.Others, "Chosen over:"
	}
	if len(cands) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\n%s\n", title)
	rows := make([][]string, len(cands))
	for i, c := range cands {
		rows[i] = []string{name(c.AgentID), c.Status, fmt.Sprintf("%d/%d", c.Active, c.Capacity), admin.ReasonText(c, x.Queue)}
	}
	if err := g.table([]string{"AGENT", "STATUS", "CHATS", "WHY NOT"}, rows); err != nil {
		return err
	}
	if x.Routing != nil && x.Routing.OthersOmitted > 0 && x.State != parley.StateQueued {
		fmt.Fprintf(w, "(and %d more)\n", x.Routing.OthersOmitted)
	}
	return nil
}
