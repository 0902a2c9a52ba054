// Package commitlog is the partition log engine: an append-only sequence of
// Kafka RecordBatch v2 batches on disk, addressed by offset. It knows
// nothing of Kafka requests. Batches are stored exactly as given, except for
// the two header fields outside the CRC that the log assigns: base offset and
// partition leader epoch (see package records).
//
// # Files
//
// One directory per partition, chosen by the caller (e.g. data/topic-0/):
//
//	data/topic-0/
//	├── 00000000000000000000.log        segment: batches [0, 4711)
//	├── 00000000000000000000.index      its sparse offset index
//	├── 00000000000000000000.timeindex  its time index
//	├── 00000000000000004711.log        the active segment (the last one)
//	├── 00000000000000004711.index
//	├── 00000000000000004711.timeindex
//	└── log.checkpoint                  log start offset, recovery point,
//	                                    cleaner offset, clean-shutdown flag
//
// A segment is named by its base offset, zero-padded to 20 digits. Every
// offset in it is >= the base and the first offset of the next segment is
// greater than every offset in it. Transient files: *.tmp (a checkpoint or
// index being replaced atomically), *.cleaned and *.swap (a compaction swap,
// see compact.go); Open removes or finishes them.
//
// The .log file is the batches back to back, exactly as appended:
//
//	position 0                              position p
//	+-------------------------------------+-------------------------------+--
//	| batch: baseOffset 0, lastDelta 9    | batch: baseOffset 10, ...     |
//	| 61-byte header (records.HeaderSize) | header | records (maybe       |
//	| then records (maybe compressed)     |        | compressed)          |
//	+-------------------------------------+-------------------------------+--
//	  baseOffset, partitionLeaderEpoch rewritten on append (outside the CRC)
//
// The index formats are drawn in index.go, the checkpoint in checkpoint.go.
// In memory, each segment keeps its two indexes as slices (8 and 12 bytes per
// entry; one entry per IndexIntervalBytes of log, ~0.3% of the data). The
// index files are written whole when a segment is sealed and when the log
// closes; until then the active segment's are empty or stale, and recovery
// after a crash rebuilds them from the .log. corrupt.marks (corrupt.go) lists
// the ranges known to be corrupt.
//
// # Descriptors
//
// A partition holds no descriptor while idle: each .log is opened on use and
// kept in a cache of open files shared by the logs of a process (Files,
// files.go: a clock over open files with a cap). I/O pins a file for the
// call, a Region until Release (sendfile), and a file with unsynced writes is
// fdatasynced before the cap closes it.
//
// # Filesystem
//
// Every file above is created, opened, written, synced, renamed and removed
// through a vfs.FS (Options.FS; nil means vfs.Default, the operating
// system's). Tests run the log on vfs.MemFS, which drops unsynced data and
// unsynced directory entries on a simulated power cut, and on vfs.ErrorFS,
// which injects EIO, ENOSPC, short writes and failed fsyncs. On the OS
// filesystem Region.File gives fetches the *os.File for sendfile.
//
// # Offsets
//
//	LogStartOffset ≤ … ≤ HighWatermark ≤ LogEndOffset
//	     readable range: [LogStartOffset, HighWatermark)
//
// Append assigns offsets from LogEndOffset. In SyncAlways mode (the default)
// HighWatermark is the end of the fsynced prefix: readers never see data a
// crash could take back. A background flusher per Log fsyncs whenever there
// is unsynced data, one fdatasync covering every append written before it
// started (group commit); WaitDurable lets a producer with acks=all wait for
// that. In SyncPageCache mode (Kafka's default) HighWatermark equals
// LogEndOffset and fsync happens only on roll, Close and every FlushInterval.
//
// # Durability and recovery
//
// Rolling a segment costs the append only the creation of three files. The
// flusher then fsyncs the directory and the old segment with its indexes,
// and moves the recovery point (in log.checkpoint) past it, so an unclean
// restart re-validates only the segments from the recovery point on. In
// SyncAlways mode the high watermark crosses into the new segment only
// after that. Close writes clean-shutdown=1; Open writes 0 before accepting
// appends. See Open for the recovery rules: never serve a corrupt batch,
// never drop one that validates before the first bad one; after a clean
// shutdown only each segment's tail (after its last index entry) is
// CRC-checked, and index files are trusted once they pass cheap checks.
//
// A failed write or fsync puts the log into a failed state: appends return
// ErrStorage until the log is reopened, the durable offset never moves past
// the last good fsync (also when an overlapping fsync succeeds, flush.go),
// reads keep serving what the log had. A full disk is different: appends
// get ErrDiskFull and resume by themselves once space is back.
//
// Recovery sets aside what it cannot prove is a torn tail (quarantine/, see
// quarantine.go); batches that fail their CRC are marked corrupt and never
// served; a background Scrubber verifies the CRCs of closed segments at a
// bounded rate and marks what it finds (scrub.go). State and Damage report
// all of it.
//
// # Concurrency
//
// A Log is safe for concurrent use. Appends are serialized; reads run in
// parallel with appends and each other, taking the lock only to find a
// segment and an index position and then reading with pread. Segments are
// reference counted, so retention, compaction and truncation can replace or
// remove segments while readers still read the old files. Lock order is
// documented on Log.
//
// # Retention and compaction
//
// Clean, called periodically by the owner, applies the cleanup policy:
// delete (time and size retention, whole segments, never the active one)
// and/or compact (keep the latest record per key, Kafka semantics; see
// compact.go for the algorithm, the crash-safe swap protocol and what is
// guaranteed).
package commitlog
