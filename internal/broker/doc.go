// Package broker implements the Kafka request handlers of a Samsa node and the state they act
// on: topics, partitions (each an internal/partition replica: log, producer state for
// idempotence and transactions, last stable offset, high watermark; partition.go), and the
// storage of the group coordinator (__consumer_offsets, groups.go) and the transaction
// coordinator (__transaction_state, txnbroker.go).
//
// Every handler answers an internal error with the Kafka code from one table (errors.go): a
// kErr carries the code its handler chose, sentinel errors of commitlog, records, partition
// and txn map through errorCodes.
//
// One file per API key (00_produce.go, 01_fetch.go, ...) holds that key's handler, opening with
// the versions served and the behaviour notes. conn.go runs a client connection: a reader
// goroutine decodes requests and starts their handlers in arrival order; a writer goroutine
// sends the responses in the same order (clients pipeline and rely on it). A handler answers by
// calling req.respond exactly once, possibly later from another goroutine (acks=all produce
// waiting for fsync, fetch long-polls, group joins), so one slow request does not stop the
// connection from reading the next.
//
// Data directory layout:
//
//	DATA/
//	  meta.json               cluster id, node id, producer-id block, topics (id, partitions,
//	                          config overrides); replaced atomically (temp, fsync, rename)
//	  TOPIC-PARTITION/        one commitlog directory per partition
//	    producer.snapshot     producer state (sequences, open transactions) as of an offset
//	                          (see internal/partition/producers.go)
//	    aborted.txnindex      the partition's aborted transactions (commitlog.TxnIndex)
//	  TOPIC-PARTITION.ID-delete/  a deleted partition waiting to be removed
//
// Lock order: Broker.mu (topic map) before a partition's append lock; that lock before the transaction
// coordinator's lock (the KIP-890 check of a transactional append runs under it), and
// the group coordinator's lock before the transaction coordinator's (TxnOffsetCommit's check).
// None is held while waiting on disk durability or on the network.
package broker
