// Package partition holds one replica of a topic partition: its log (internal/commitlog), its
// producer state (idempotence: the last five batches of each producer id, so a retry is
// answered with its original offsets instead of being written twice; epochs, so zombies are
// fenced), its transaction state (open transactions, the aborted-transaction index, the last
// stable offset) and its high watermark, behind one type, Partition.
//
// # Offsets
//
//	 log start        LSO              HW          durable end     log end
//	     |             |                |                |             |
//	     v             v                v                v             v
//	  ---[=============|================|================|=============]--->
//	     | decided     | open txns      | durable here,  | written,    |
//	     | (committed  | begin at or    | not yet on the | not yet     |
//	     |  or aborted)| after the LSO  | in-sync        | fsynced     |
//	     |             |                | replicas       |             |
//
//	log start   LogStartOffset: the first offset readers may ask for (retention,
//	            DeleteRecords and compaction move it up).
//	LSO         LastStableOffset: the first offset of the earliest transaction still open or
//	            whose marker is not yet below the HW (Kafka's unreplicated transactions), or
//	            the HW if that is lower; read_committed consumers read below it.
//	HW          HighWatermark: the end of what consumers may see; acks=all produce waits for
//	            it (WaitCommitted). On a single node it is the durable end; a replication layer
//	            sets it (SetHighWatermark) to what the in-sync replicas hold durably, never
//	            beyond this replica's durable end.
//	durable end DurableEnd: offsets below it are fsynced (samsa.durability=fsync; written in
//	            pagecache mode). A follower reads up to it (ReadReplica).
//	log end     LogEndOffset: the offset the next batch gets.
//
// Always: log start <= LSO <= HW <= durable end <= log end (the LSO is clamped to the log
// start and to the HW).
//
// # Appends
//
// Every batch enters through one path that checks the producer state, appends to the log and
// applies the batch to the producer state and the aborted-transaction index under one lock:
// Append (produced batches and, through AppendRecords, the records the broker writes itself:
// __consumer_offsets and __transaction_state), AppendMarker (transaction markers) and
// AppendAsFollower (batches copied from a leader, with their offsets; producer state is kept
// as the leader keeps it, so idempotence and the LSO survive a change of leader). Reads do not
// take the lock.
//
// # Durability of the producer state
//
// The producer state is rebuilt at Open from the last snapshot (producer.snapshot, see
// producers.go) plus the batches after the offset it covers. A snapshot is written only once
// everything it covers is durable and the aborted-transaction index is fsynced. Producer ids
// idle for longer than Config.ProducerIDExpiration (producer.id.expiration.ms) with no open
// transaction are forgotten by ExpireProducers, which the broker calls periodically.
//
// An idempotent retry whose original is in the log is answered with the original's offsets
// (AppendResult.Duplicate); the caller still waits for the original to be committed before
// acknowledging it, so a retry after a failed fsync gets the log's storage error instead of an
// acknowledgement of data that may be gone.
package partition
