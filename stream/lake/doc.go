// Package lake writes a stream to a data lake: Parquet files, partitioned by columns the
// user picks and by event time, on a local directory or S3-compatible object storage,
// committed exactly once with the runner's checkpoints.
//
//	p := stream.NewPipeline()
//	events := stream.Read(p, stream.Source[Event]{Name: "events", Decode: decode})
//	err := lake.Write(events, lake.Config{
//		Storage:     lake.Dir("/data/lake"),
//		Table:       "events",
//		PartitionBy: []string{"type"}, // then dt=YYYY-MM-DD/hr=HH/ of the event time
//	})
//	err = kafkarun.Run(ctx, p, kafkarun.Config{...})
//
// # Files and schema
//
// The Parquet schema is derived from the element type, a struct, by parquet-go
// (github.com/parquet-go/parquet-go): field names or `parquet:"name,options"` tags,
// optional and repeated fields, logical types such as timestamp(millisecond); or given as
// Config.Schema, for rows that are map[string]any: FromAvro derives it from an Avro record
// schema (a schema registry's), and AvroTable.Row converts values decoded with that schema
// (see AvroTable for the mapping and what it refuses). Files are
// written under Table/<col>=<value>/.../dt=YYYY-MM-DD/hr=HH/ (Hive-style folders, UTC event
// time of the element; Config.TimePartitioning for daily or none) and named
// part-<writer>-<epoch>-<n>.parquet. Readers that read a folder (pyarrow datasets, DuckDB's
// read_parquet('.../**/*.parquet'), Spark, Trino) see committed files only: files being
// written live under Table/_staging/ (ignored as a hidden folder) with the suffix
// .parquet.staged.
//
// A file rolls (is closed) when it reaches Config.TargetFileSize, when it has been open
// Config.RollInterval, and at every checkpoint. Parquet files cannot be appended to after
// their footer is written, so a file never spans a checkpoint (Flink's bulk-format file sink
// rolls on checkpoints for the same reason): the commit interval bounds file age, and a
// low-volume stream makes small files.
//
// # Exactly-once
//
// The sink is a stream.TwoPhaseSink: the executor of each task drives it with the task's
// checkpoints. Each task has a writer id (random, kept in the task's state, so it survives
// restarts and moves between instances) and numbers its checkpoints (epochs).
//
//  1. Write: rows go to files staged as Table/_staging/<writer>/<epoch>-<attempt>-<n>.parquet.staged,
//     where attempt is random per run, so a restarted or zombie instance never writes a
//     name the other uses.
//  2. Pre-commit (Executor.Flush, a checkpoint): every open file is closed and made durable
//     (fsync; an S3 upload completes), and the task's state records the writer, the epoch
//     and the list of staged files with their final names: the files of this epoch and of
//     any earlier one whose commit was not confirmed. The state goes into the runner's
//     checkpoint (with kafkarun: the changelog and its commit marker, or the transaction).
//  3. Commit (the checkpoint is durable: Executor.Committed, or the first call the runner
//     makes on the executor after the checkpoint, which kafkarun makes only after the commit
//     marker or transaction is acknowledged): each listed file is renamed to its final name
//     (S3: server-side copy, then delete).
//  4. Restore (a task starts, on any instance): the state of the last durable checkpoint is
//     read; each of its listed files is renamed into place if it is still staged (a rename
//     of a name fixed in the state is idempotent: a file already in place is skipped), and
//     every other staged file of the writer is deleted: they hold rows after the checkpoint,
//     which the runner replays from the checkpoint's input positions.
//
// Failure cases:
//   - crash while writing (before pre-commit): the staged files are not in any durable
//     state; the restore deletes them and the input is replayed. No row is visible twice.
//   - crash after pre-commit, before the checkpoint is durable: the restore sees the
//     previous state, deletes this epoch's staged files, and the input is replayed.
//   - crash after the checkpoint is durable, before or during the renames: the restore
//     finishes the renames (files already moved are skipped). No row is lost.
//   - a checkpoint whose commit failed and is retried (PreCommit again without Commit): the
//     new state lists the older files too, so whichever state becomes durable covers them.
//   - a zombie (an instance that lost its task but still runs): with kafkarun's
//     ExactlyOnce its commit is fenced, so its files are never published; its staged names
//     differ from the new owner's (attempt id), and the new owner's restore deletes them.
//     Under AtLeastOnce a zombie is not fenced, as for any output of that mode.
//   - a task whose very first checkpoint never became durable leaves staged files under a
//     writer id no state records: they are invisible to readers but not deleted
//     automatically (remove Table/_staging/<writer>/ folders older than any running task).
//
// Readers see a file all at once: a local rename is atomic, and an S3 object appears when
// its copy completes.
//
// # Throughput
//
// Each task's sink encodes, compresses and writes its files on a goroutine of its own (the
// executor hands it batches of 512 rows, at most four queued), so that Parquet encoding
// overlaps the executor's work: a task can use two cores. Pre-commit waits for it to
// drain, so a checkpoint lists only closed, synced files; a write error fails the next
// Write or pre-commit. Parquet writers are reused across files.
//
// # Compaction
//
// Compact merges the small files of closed event-time folders of a table on a local
// directory into one file per folder, swapping the folder with a directory holding the
// merged file in one renameat2(RENAME_EXCHANGE), so readers see the old files or the new
// one, never both or neither; a journal makes it idempotent after a crash (see Compact).
//
// # Storage
//
// Storage is a small interface (Create, Rename, Delete, List, Exists). Dir is a local
// directory: staged files are synced before the state that lists them is written, and
// renames are followed by a sync of the folders. S3 (NewS3) is S3-compatible object storage
// through minio-go: a file is spooled locally and uploaded with one PutObject when it rolls
// (readers see whole objects only), and a rename is a server-side copy then a delete, which
// a restore may repeat. minio-go is one module with few dependencies; aws-sdk-go-v2 needs
// its config, credentials, smithy and service modules for the same five calls. The tests
// run the S3 target against versitygw (an S3 gateway over a posix directory).
package lake
