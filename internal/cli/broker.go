package cli

import "github.com/spf13/cobra"

// brokerCmd is the `samsa broker` parent. (A minimal one on the reassignment branch; the
// drain/undrain branch has the full one, which gains brokerDecommissionCmd at merge.)
func (a *app) brokerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "broker",
		Short:   "Operate on one broker of a cluster: decommission",
		Example: `  samsa broker decommission 4`,
		Args:    subcommandArgs,
		RunE:    showHelp,
	}
	cmd.AddCommand(a.brokerDecommissionCmd())
	return cmd
}
