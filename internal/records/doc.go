// Package records reads, checks, rewrites and builds Kafka RecordBatch v2
// (magic 2), the unit in which Samsa receives, stores and serves data.
//
// A batch travels as the producer sent it: the broker checks it
// (ValidateProduce), rewrites only the fields outside the CRC in place
// (SetBaseOffset, SetPartitionLeaderEpoch; SetLogAppendTime when a topic
// asks for broker timestamps) and appends the bytes to the log. Fetches
// serve the same bytes. Nothing on that path decodes records into Go
// values or allocates per record. Records are decoded only where their
// contents matter — compaction, index rebuilding, internal topics — with
// EachRecord, which decompresses into a pooled buffer and hands out
// records that alias it. Builder writes new batches (internal topics,
// transaction markers, compacted rewrites).
//
// # Batch layout
//
// All integers are big-endian. The CRC-32C (Castagnoli) covers everything
// from attributes to the end of the batch, so baseOffset, batchLength and
// partitionLeaderEpoch can be rewritten without recomputing it.
//
//	offset  size  field
//	     0     8  baseOffset            int64   offset of the first record
//	     8     4  batchLength           int32   bytes after this field (size-12)
//	    12     4  partitionLeaderEpoch  int32
//	    16     1  magic                 int8    = 2
//	    17     4  crc                   uint32  CRC-32C of bytes [21, end)
//	    21     2  attributes            int16   see below
//	    23     4  lastOffsetDelta       int32   last offset - baseOffset
//	    27     8  baseTimestamp         int64   (delete horizon if bit 6 set)
//	    35     8  maxTimestamp          int64   (log append time if bit 3 set)
//	    43     8  producerId            int64   -1: none
//	    51     2  producerEpoch         int16   -1: none
//	    53     4  baseSequence          int32   -1: none
//	    57     4  recordCount           int32
//	    61     …  records, compressed as a whole per attributes bits 0-2
//
//	 0          8        12       16  17      21     23       27
//	+----------+--------+--------+---+-------+------+--------+
//	|baseOffset|batchLen|leaderEp| m |  crc  | attr | lastOD |
//	+----------+--------+--------+---+-------+------+--------+
//	 27         35         43         51     53      57      61
//	+----------+----------+----------+------+-------+-------+---------
//	|  baseTs  |  maxTs   |producerId|pEpoch|baseSeq| count | records…
//	+----------+----------+----------+------+-------+-------+---------
//	             the CRC covers bytes 21 (attr) to the end ─────────▶
//
// Attribute bits:
//
//	bits 0-2  compression: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd (5-7 invalid)
//	bit  3    timestampType: 0 CreateTime, 1 LogAppendTime
//	bit  4    isTransactional
//	bit  5    isControlBatch (one control record: a transaction marker)
//	bit  6    hasDeleteHorizonMs (set by the compactor)
//
// # Record layout
//
// Varints are zig-zag encoded (protobuf sint32/sint64); "varint" holds an
// int32 in at most 5 bytes, "varlong" an int64 in at most 10. A length of
// -1 means null.
//
//	length          varint   bytes of the record after this field
//	attributes      int8     unused, 0
//	timestampDelta  varlong  timestamp - baseTimestamp
//	offsetDelta     varint   offset - baseOffset
//	keyLength       varint   -1: null key
//	key             bytes
//	valueLength     varint   -1: null value (a tombstone)
//	value           bytes
//	headerCount     varint
//	headers         headerCount × { keyLength varint (>= 0), key,
//	                                valueLength varint (-1: null), value }
//
// # Compression
//
// Decompress and Compress cover Kafka's codecs with klauspost/compress
// (gzip, zstd, snappy via s2) and pierrec/lz4 (LZ4 frame format). Snappy
// input may be one raw block or the xerial framing Java clients write:
//
//	0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00 | version int32 | compatible int32 |
//	{ blockLength int32 (big-endian) | raw snappy block }...
//
// Decompressed output is capped at MaxDecompressedSize (ErrTooLarge).
//
// # Errors and trust
//
// Every function that reads bytes returns an error — never panics — on
// malformed input: ErrShort (truncated), ErrMagic (not v2), ErrCorrupt
// (CRC mismatch) or ErrInvalid (anything else structurally wrong, with
// the more specific ErrControlBatch, ErrUnknownCompression and ErrTooLarge
// wrapping it). ParseHeader and Next check framing only, Validate the
// header and CRC, ValidateProduce additionally the producer rules and the
// records of an uncompressed batch, ValidateProduceDeep the records of a
// compressed one too, EachRecord the records of any batch but not the CRC.
//
// Pooled state (decoders, encoders, EachRecord's decompression buffer)
// lives in sync.Pools; every function is safe for concurrent use. A Builder
// is not.
package records
