package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is the release this binary was built from. Release builds set it with
// -ldflags "-X github.com/samsa-streaming/samsa/internal/cli.Version=v1.2.3"; otherwise it
// is the module version Go recorded ("(devel)" for a build from a checkout).
var Version = ""

// buildInfo is what `samsa version` prints.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"` // VCS revision, "unknown" when not built from a checkout
	CommitAt  string `json:"commit_time,omitempty"`
	Modified  bool   `json:"modified"`   // the checkout had uncommitted changes
	GoVersion string `json:"go_version"` // the toolchain that built the binary
	Platform  string `json:"platform"`
}

// readBuildInfo reads the version, the VCS commit and the Go version recorded in the binary
// (runtime/debug build info).
func readBuildInfo() buildInfo {
	bi := buildInfo{Version: Version, Commit: "unknown", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if bi.Version == "" {
			bi.Version = "unknown"
		}
		return bi
	}
	if bi.Version == "" {
		bi.Version = info.Main.Version
	}
	if bi.Version == "" {
		bi.Version = "(devel)"
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			bi.Commit = s.Value
		case "vcs.time":
			bi.CommitAt = s.Value
		case "vcs.modified":
			bi.Modified = s.Value == "true"
		}
	}
	return bi
}

// String is the one-line form of --version.
func (bi buildInfo) String() string {
	commit := bi.Commit
	if bi.Modified {
		commit += " (modified)"
	}
	return fmt.Sprintf("samsa %s, commit %s, %s %s", bi.Version, commit, bi.GoVersion, bi.Platform)
}

func (bi buildInfo) write(w io.Writer) error {
	commit := bi.Commit
	if bi.Modified {
		commit += " (with uncommitted changes)"
	}
	if bi.CommitAt != "" {
		commit += " from " + bi.CommitAt
	}
	_, err := fmt.Fprintf(w, "samsa %s\ncommit: %s\ngo: %s %s\n", bi.Version, commit, bi.GoVersion, bi.Platform)
	return err
}

func (a *app) versionCmd() *cobra.Command {
	var output string
	return withOutputFlag(&cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this binary",
		Example: `  samsa version
  samsa --version
  samsa version -o json`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			jsonOut, err := parseOutput(output)
			if err != nil {
				return err
			}
			bi := readBuildInfo()
			if jsonOut {
				return writeJSON(cmd.OutOrStdout(), bi)
			}
			return bi.write(cmd.OutOrStdout())
		},
	}, &output)
}

// withOutputFlag adds -o/--output text|json to cmd, bound to output.
func withOutputFlag(cmd *cobra.Command, output *string) *cobra.Command {
	cmd.Flags().StringVarP(output, "output", "o", "text", "output format: text or json")
	return cmd
}
