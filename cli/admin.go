package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/storage"
)

// admin runs an admin command through the running server's admin socket,
// or on the database file when no server runs, and decodes its result into
// out. Both paths end in the same admin.Admin code.
func (g *globalOptions) admin(ctx context.Context, cmd string, args, out any) error {
	raw, err := httpapi.DialAdmin(g.socketPath()).Do(ctx, cmd, args)
	if errors.Is(err, httpapi.ErrNoServer) {
		raw, err = g.adminOffline(ctx, cmd, args)
	}
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// readOnlyAdmin names the admin commands that only read: with no server
// running they open the file read-only, so looking never writes to it.
var readOnlyAdmin = map[string]bool{
	"agent.ls": true, "queue.ls": true, "sessions.ls": true, "sessions.show": true,
	"queues.ls": true, "queue.explain": true,
	"hold.ls": true, "audit.ls": true, "stats": true,
	"report.agents": true, "report.queue": true,
}

func (g *globalOptions) adminOffline(ctx context.Context, cmd string, args any) (json.RawMessage, error) {
	if err := g.requireData(); err != nil {
		return nil, err
	}
	open := storage.Open
	if readOnlyAdmin[cmd] {
		open = storage.OpenReadOnly
	}
	db, err := open(g.dbPath(), storage.Options{Timeout: 500 * time.Millisecond})
	if errors.Is(err, storage.ErrLocked) {
		return nil, fmt.Errorf("%s is locked by a running server, but its admin socket %s does not answer; "+
			"check that the server is healthy, or stop it and retry", g.dbPath(), g.socketPath())
	} else if err != nil {
		return nil, err
	}
	defer db.Close()
	if notice := upgradeNotice(db); notice != "" {
		fmt.Fprintln(g.streams.Err, notice)
	}
	argsRaw, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	res, err := admin.New(db, admin.Offline(db)).Do(ctx, cmd, argsRaw)
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

// upgradeNotice returns the sentence saying that opening db upgraded an
// older schema and where the old file is kept, or "" if it did not.
func upgradeNotice(db *storage.DB) string {
	from, backup := db.Migration()
	if from == 0 {
		return ""
	}
	return fmt.Sprintf("Upgraded the database from schema %d to %d; the old file is kept at %s", from, storage.SchemaVersion, backup)
}

// requireData fails unless the data directory exists, so that commands on
// a mistyped --data neither create it nor act on nothing.
func (g *globalOptions) requireData() error {
	if fi, err := os.Stat(g.data); err != nil || !fi.IsDir() {
		return fmt.Errorf("no Parley data directory at %s; run parley serve first or pass --data", g.data)
	}
	return nil
}

// printJSON writes v as indented JSON.
func (g *globalOptions) printJSON(v any) error {
	enc := json.NewEncoder(g.streams.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns, without padding at the ends of lines.
func (g *globalOptions) table(header []string, rows [][]string) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	line := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw)
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range strings.SplitAfter(buf.String(), "\n") {
		if l == "" {
			continue
		}
		if _, err := io.WriteString(g.streams.Out, strings.TrimRight(l, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}
