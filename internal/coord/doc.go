// Package coord is the coordinator core that the group coordinator (internal/group) and the
// transaction coordinator (internal/txn) share: the lock with its reply queue, the table of
// internal-topic partitions this node coordinates with their load state and epoch, the Store
// contract with an in-memory implementation, Kafka's partition picker and the error responses.
// It holds no protocol logic and imports nothing internal; group and txn keep only theirs.
//
// # Partitions and ids
//
// A coordinator's state lives in the partitions of a compacted internal topic
// (__consumer_offsets for groups, __transaction_state for transactional ids). Every id belongs
// to one partition, PartitionFor(id, n) = Utils.abs(javaHashCode(id)) % n exactly as Kafka
// computes it, and the node that leads a partition coordinates its ids. The coordinator keeps
// the state of each id in memory, rebuilt from the partition's records when it takes the
// partition over.
//
// # Load and unload
//
// Each partition is in one of three states on this node:
//
//	              Load(p, e)                  records read (Hooks.Read, then install)
//	Unloaded ─────────────────▶ Loading ──────────────────────────────────────▶ Loaded
//	   ▲  NOT_COORDINATOR          │ COORDINATOR_LOAD_IN_PROGRESS                  │ served
//	   │                           │                                               │
//	   └────── Unload(p), or a failed read ◀──────────────────────────────────────┘
//	                               (Hooks.Drop: parked requests get NOT_COORDINATOR)
//
// Requests for an id are answered by the state of its partition (CodeLocked): only a Loaded
// partition's ids are served; the other partitions are unaffected by a partition loading or
// unloading. Start is the single-node case: every partition Loading at once, then each Loaded
// as soon as its records are read. A cluster calls Load(p, epoch) when this node becomes the
// leader of partition p and Unload(p) when it stops being it. Loading a partition that is
// Loaded under an older epoch drops its state first; an Unload (or newer Load) during a load
// abandons it (ErrUnloaded).
//
// # Epochs and terms
//
// The coordinator epoch of a partition is its leader epoch when it was loaded; it only moves
// forward (ErrStaleEpoch otherwise). A Term names one tenure: partition, epoch, and a sequence
// number that every Load and Unload bumps. Writes are issued under the current Term and carry
// its epoch to the Store, which refuses a write under an epoch older than the partition's
// leader epoch (ErrStaleEpoch), so a coordinator that lost a partition cannot write to it. When
// a write completes, the coordinator checks CurrentLocked(term): if the partition was unloaded
// meanwhile, the write's requests are answered NOT_COORDINATOR (ErrNotCoordinator, through
// StoreErrorCode) and nothing is applied to memory; the log is what the next coordinator reads.
// Transaction markers carry the epoch as their coordinator epoch, as in Kafka.
//
// # Lock and reply queue
//
// The Core's lock guards the partition table and all of the coordinator's state (Lock,
// Unlock; methods named ...Locked need it held). A coordinator never blocks while holding it:
// a request that must wait (a JoinGroup for the rebalance, a write for the Store) is parked and
// answered later from another goroutine. Responses are queued with ReplyLocked while the lock
// is held and delivered by Unlock after the lock is released, in queue order, so that a
// responder may call back into the coordinator. Hooks.Read runs without the lock; the install
// function it returns and Hooks.Drop run with it held.
//
// Lock order: the Core's lock is a coordinator's only lock; the Store is never called with it
// held.
package coord
