// Package metrics holds Samsa's Prometheus collectors (github.com/prometheus/client_golang)
// and the few calls that feed them.
//
// One *Metrics belongs to one node (tests run many nodes in one process, so nothing here is a
// package-level global). It is fed from three places:
//
//   - the broker, at single choke points: every answered request (Request: api, duration,
//     Kafka error), every appended batch (Produced), every fetch response (Fetched), every
//     EndTxn (Transaction), and the commit log's group-commit fsync (ObserveFsync, passed as
//     commitlog.Options.OnSync);
//   - the server: open connections (a gauge function over the broker's counters) and the
//     schema registry's HTTP status codes (RegistryRequest);
//   - the console's sampler, a Kafka client that every few seconds reads topics, partitions,
//     log sizes and consumer-group lag and sets the gauges (SetCluster, SetGroups).
//
// Histograms, never summaries: quantiles of histograms aggregate across nodes. Label
// cardinality is bounded: api and error take the Kafka API and error names (fixed tables);
// topic takes at most Config.MaxTopics distinct topic names, further topics are counted under
// the topic "_other" and a topic's series are removed when the sampler sees it deleted;
// group lag series exist only for groups that have committed offsets, at most
// Config.MaxGroups of them; per-partition series (samsa_partition_*) exist only when
// Config.PartitionLabels is set (samsa.metrics.partition.labels=true).
//
// Every method is safe for concurrent use and a no-op on a nil *Metrics, so callers need no
// "metrics enabled?" checks.
package metrics
