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
// Three more fault facilities, each tested in this package:
//
//   - Network (netns.go): Options.Netns runs every node in a Linux network namespace of its
//     own, joined to a bridge by a veth pair, at its own address with fixed ports.
//     Cluster.Isolate cuts a node off from its peers with nftables rules inside its
//     namespace (packets dropped both ways), while clients in the test's namespace still
//     reach it through the bridge; Cluster.Heal removes the cut. Namespace.Do runs code (a
//     client's dial) inside a namespace.
//   - Proxy (proxy.go): a fault-injecting TCP proxy (delay, one- or two-way blackhole,
//     resets), since this kernel has no tc netem. Options.Proxies puts one in front of each
//     node's Kafka listener and makes the node advertise it (--advertised-kafka-addr), so
//     clients and the other nodes' replica fetchers reach the node through Node.Proxy.
//   - LazyMount (lazyfs.go): Options.LazyFS puts each node's data directory on a FUSE
//     filesystem served by the test process that keeps what was written but not fsynced,
//     and directory entries not fsynced, apart from what is durable, as Jepsen's LazyFS
//     does; Cluster.PowerCut kills every node and drops the rest, Node.PowerCut one node.
//
// Namespaces and FUSE need root, iproute2, nftables and /dev/fuse: without them a test
// using them is skipped with the reason, except under CI=true, where it fails.
//
// In cluster mode Start waits until every node's Metadata lists every broker, and a
// restarted node until it lists itself. Ports are picked below the kernel's ephemeral range,
// so a restarted node finds its ports free. Blocked skips a suite failing on a known defect
// unless SAMSA_RUN_BLOCKED=1.
//
// Processes are stopped by their pid only, at the test's cleanup; a failed test logs the
// tail of each node's output. Conditions are awaited with internal/testwait, never slept.
package harness
