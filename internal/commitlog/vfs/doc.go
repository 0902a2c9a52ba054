// Package vfs is the filesystem the commit log and the broker's metadata
// reach the disk through: a small interface (FS, File) with three
// implementations.
//
//   - Default is the operating system's filesystem. Its files are *os.File
//     underneath (OSFile returns it), so fetches can still send segment
//     data with sendfile(2).
//   - MemFS keeps everything in memory and models what a power cut keeps:
//     a file's content is durable up to its last Sync/SyncData, a directory
//     entry (creation, rename, removal) only once its directory was synced
//     (POSIX: fsync of a file does not make its name durable). CrashClone
//     returns the filesystem as a power cut would leave it.
//   - ErrorFS wraps another FS and lets an Injector fail any operation
//     (EIO, ENOSPC, a short write, a failed fsync) by kind and path, for as
//     long as a Toggle is on.
//
// The shape follows cockroachdb/pebble's vfs, vfs/errorfs and crashable
// MemFS. The log needs what pebble's File lacks (Truncate, to cut a torn
// tail or preallocated zeros), a plain *os.File for sendfile, and a file
// whose name is durable only after a directory sync; hence a package of our
// own with the same ideas and a quarter of the surface.
//
// Helpers built on the interface: SyncDir, ReadFile, WriteFileAtomic (temp
// file, fsync, rename, directory fsync) and MkdirAllSync.
package vfs
