// Package txn is the transaction coordinator of a Samsa node: Kafka's exactly-once machinery
// (KIP-98) as Apache Kafka 3.9's TransactionCoordinator runs it, with the epoch rules of KIP-360
// and the server-side checks of KIP-890 part 1.
//
// # Model
//
// A transactional producer names itself with a transactional.id. The Coordinator keeps, for
// every transactional id, the producer id and epoch currently allowed to use it, the transaction
// timeout, the partitions of the ongoing transaction and its state:
//
//	          InitProducerId              AddPartitionsToTxn / AddOffsetsToTxn
//	(none) ─────────────────▶ Empty ───────────────────────────────────▶ Ongoing ◀─┐ more partitions
//	                            ▲                                           │  └──────┘
//	           InitProducerId   │                          EndTxn(commit)   │   EndTxn(abort), timeout,
//	      (epoch+1, or a new id)│                     ┌─────────────────────┤   InitProducerId (fence:
//	                            │                     ▼                     ▼   epoch+1)
//	        CompleteCommit ◀── markers written ── PrepareCommit        PrepareAbort ── markers ──▶ CompleteAbort
//	        CompleteAbort  ─────────────────────────────────────────── AddPartitionsToTxn ───────▶ Ongoing
//	Empty / Complete* ──transactional.id.expiration.ms idle──▶ Dead (tombstone; the id is forgotten)
//
// Every transition is written to the compacted __transaction_state topic (through Store) before
// it takes effect, in Kafka's own record format (kmsg.TxnMetadataKey/TxnMetadataValue), and
// replayed by Start or Load. EndTxn is answered once PrepareCommit or PrepareAbort is durable: from then
// on the outcome is decided. The coordinator then writes a commit or abort control batch (a
// "marker") with the transaction's producer id and epoch to every partition of the transaction,
// through MarkerWriter, retrying until each is durable, and finally writes CompleteCommit or
// CompleteAbort. A Coordinator that starts and finds a PrepareCommit or PrepareAbort (the node
// crashed in between) writes the markers again; a partition that already has its marker gets a
// second one, which readers ignore. An Ongoing transaction found at start keeps its start time
// and is aborted when its timeout passes or when its transactional id is initialized again.
//
// Fencing: InitProducerId for a transactional id bumps its epoch, so every request of an older
// producer instance (a zombie) gets PRODUCER_FENCED, and its produce batches
// INVALID_PRODUCER_EPOCH at the partitions. If the id has an ongoing transaction, that
// transaction is first aborted with epoch+1 (its markers carry the new epoch, which fences the
// old producer's batches at each partition), and the producer gets epoch+2. A transaction older
// than its timeout is aborted the same way by AbortTimedOut. Epochs near the int16 limit give
// way to a new producer id. Verify lets the partition leader check that a transactional batch
// (or TxnOffsetCommit) belongs to an ongoing transaction that contains its partition (KIP-890
// part 1), so a late or zombie write cannot start a transaction nobody will end.
//
// Requests that find the transaction completing (its markers being written) are answered
// CONCURRENT_TRANSACTIONS at once, as Kafka answers, and the client retries; writing markers
// may take long (a partition that keeps failing is retried). A request that finds only a state
// write in flight waits for it (one fsync), up to Config.ParkTimeout, and is then served as if it
// had just arrived, or answered CONCURRENT_TRANSACTIONS once the wait runs out.
//
// Each transactional id lives in one partition of __transaction_state (Kafka's rule,
// Coordinator.Partition), and the Coordinator serves the ids of the partitions it has loaded:
// Start loads them all (a single node leads every partition); Load and Unload take one partition
// over or give it up when its leadership moves, under the partition's leader epoch, which the
// markers carry as their coordinator epoch (internal/coord keeps the partitions' states and
// epochs, the lock and the reply queue). Requests for an id of a loading partition get
// COORDINATOR_LOAD_IN_PROGRESS, of one not loaded here NOT_COORDINATOR. Unloading drops the
// partition's ids: waiting requests get NOT_COORDINATOR, marker writes stop (the next
// coordinator of the partition finds the transaction deciding and writes them), and state
// writes in flight complete with NOT_COORDINATOR.
//
// # Concurrency
//
// The state lives behind one mutex and never blocks on I/O: store appends and marker writes
// run on goroutines started through Options.Go, and their completions take the lock again.
// Responses are collected while the lock is held and delivered after it is released. Timeouts
// are not timers: the owner calls AbortTimedOut, ExpireTransactionalIDs and ExpireWaiting
// periodically (Run does, on the intervals of Config), and tests call them with a fake clock.
//
// Lock order: the core's lock is the innermost lock of the broker. Verify is called with a
// partition's append lock (or the group coordinator's lock) held; the Coordinator calls no
// other component while holding its own.
package txn
