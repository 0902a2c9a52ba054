package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/samsa-streaming/samsa/internal/server"
)

func (a *app) recoverMetadataCmd() *cobra.Command {
	var (
		dataDir string
		nodeID  int32
		output  string
	)
	cmd := withOutputFlag(&cobra.Command{
		Use:   "recover-metadata",
		Short: "Rebuild a lost meta.json from the partition directories of a data directory",
		Long: `Rebuild the broker's catalog (DATA/meta.json) when it was lost and the
partition directories (TOPIC-N) are still there. "samsa serve" refuses to start
on such a directory, because it would otherwise hide the old data behind a new,
empty cluster.

Restored: every topic and its partition count (from the directory names), the
topic ids where a partition.metadata file records them (else new ids), the
internal topics (__consumer_offsets, so committed offsets come back, and
__transaction_state), and a producer-id counter past every id in the logs.
Not restored: other topics' config overrides (set them again with
"samsa topic alter") and the cluster id (a new one is chosen).

Run it with the broker stopped; it refuses when meta.json exists.`,
		Example: `  samsa recover-metadata --data-dir /var/lib/samsa
  samsa recover-metadata --data-dir ./samsa-data -o json`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			jsonOut, err := parseOutput(output)
			if err != nil {
				return err
			}
			rep, err := server.RecoverMetadata(dataDir, nodeID)
			if err != nil {
				return fmt.Errorf("recover metadata: %w", err)
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				return writeJSON(out, rep)
			}
			fmt.Fprintf(out, "Wrote %s/meta.json: %d topics, cluster id %s, next producer id %d.\n",
				strings.TrimRight(dataDir, "/"), len(rep.Topics), rep.ClusterID, rep.NextProducerID)
			tb := newTable(out, "TOPIC", "PARTITIONS", "ID", "ID FROM", "MISSING PARTITIONS")
			for _, t := range rep.Topics {
				from := "new"
				if t.IDRestored {
					from = "partition.metadata"
				}
				missing := make([]string, len(t.Missing))
				for i, p := range t.Missing {
					missing[i] = itoa(p)
				}
				tb.row(t.Name, itoa(t.Partitions), t.ID, from, strings.Join(missing, ","))
			}
			return tb.flush()
		},
	}, &output)
	cmd.Flags().StringVar(&dataDir, "data-dir", "./samsa-data", "the data directory whose meta.json is lost")
	cmd.Flags().Int32Var(&nodeID, "node-id", 0, "node.id to record (the broker's node.id)")
	return cmd
}
