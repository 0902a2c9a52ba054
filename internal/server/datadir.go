package server

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/samsa-streaming/samsa/internal/broker"
)

// checkDataDir refuses a data directory that holds partitions but no meta.json (the broker's
// catalog): starting over it would create a new, empty cluster beside the old data, with
// every topic and committed offset gone from clients' view. The error says how to recover.
func checkDataDir(dir string) error {
	parts, err := broker.OrphanPartitions(dir)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	if len(parts) == 0 {
		return nil
	}
	// Name the user's topics first: they say more than __consumer_offsets-17.
	shown := slices.Clone(parts)
	slices.SortStableFunc(shown, func(a, b string) int {
		return cmp.Compare(boolInt(strings.HasPrefix(a, "__")), boolInt(strings.HasPrefix(b, "__")))
	})
	if len(shown) > 5 {
		shown = append(shown[:5:5], fmt.Sprintf("… %d more", len(parts)-5))
	}
	return fmt.Errorf("%w: %s holds %d partition directories (%s) but no meta.json, so starting would "+
		"hide them behind a new, empty cluster. If meta.json was lost, rebuild it with "+
		"'samsa recover-metadata --data-dir %s' and start again; if the old data is not wanted, move it "+
		"away or start with an empty --data-dir", broker.ErrMetadataMissing, dir, len(parts), strings.Join(shown, ", "), dir)
}

// RecoverMetadata rebuilds the catalog (meta.json) of the data directory dir from its
// partition directories, for a node with id nodeID. See broker.RecoverMetadata.
func RecoverMetadata(dir string, nodeID int32) (*broker.RecoveryReport, error) {
	return broker.RecoverMetadata(dir, nodeID)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
