// Package harness runs N real `samsa serve` processes for cluster tests and injects
// process faults: kill -9, SIGSTOP/SIGCONT (a pause longer than a lease), SIGTERM
// (controlled shutdown) and restart with the same flags and data directory.
//
// Each node gets a data directory and free 127.0.0.1 ports for Kafka, HTTP, the schema
// registry and the cluster address (whose next port is the embedded etcd client port, so
// both are checked free). In cluster mode every node is started with the flags,
// exactly as an operator would:
//
//	samsa serve --node-id N --data-dir DIR --kafka-addr A --cluster-addr C \
//	  --controller-voters 1@C1,2@C2,3@C3 --http-addr H --registry-addr R
//
// Options.Standalone leaves the cluster flags out, so the same process control runs
// against independent single-node brokers; it is what this package's own test uses until
// `samsa serve` accepts the cluster flags.
//
// Processes are stopped by their pid only, at the test's cleanup; a failed test logs the
// tail of each node's output. Conditions are awaited with internal/testwait, never slept.
package harness
