package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/storage"
)

// versionInfo is what parley version prints.
type versionInfo struct {
	Module    string `json:"module"`
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Modified  bool   `json:"modified"`
	BuildTime string `json:"build_time"`
	Go        string `json:"go"`
	// Schema is the database schema version this binary writes; it
	// upgrades older files and refuses newer ones.
	Schema int `json:"schema_version"`
}

// readVersion reads the version from the build information the Go
// toolchain embeds: the module version, and with a VCS checkout the
// revision, whether the tree had local changes and the commit time.
func readVersion() versionInfo {
	v := versionInfo{Version: "(unknown)", Go: runtime.Version(), Schema: storage.SchemaVersion}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Module, v.Version = bi.Main.Path, bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		case "vcs.time":
			v.BuildTime = s.Value
		}
	}
	return v
}

func newCmdVersion(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision, Go version and database schema version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := readVersion()
			if g.json {
				return g.printJSON(v)
			}
			fmt.Fprintf(g.streams.Out, "parley %s\n", v.Version)
			if v.Revision != "" {
				modified := ""
				if v.Modified {
					modified = " (modified)"
				}
				fmt.Fprintf(g.streams.Out, "revision %s%s\n", v.Revision, modified)
			}
			if v.BuildTime != "" {
				fmt.Fprintf(g.streams.Out, "built from a commit of %s\n", v.BuildTime)
			}
			fmt.Fprintf(g.streams.Out, "%s\n", v.Go)
			fmt.Fprintf(g.streams.Out, "database schema version %d\n", v.Schema)
			return nil
		},
	}
}
