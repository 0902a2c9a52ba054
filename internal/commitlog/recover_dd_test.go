package commitlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/records"
)

// TestRecoveryDataDriven runs the log-recovery specifications in
// testdata/recovery: each case builds a log on a MemFS (appends, syncs, power
// cuts, torn tails, flipped bytes, stray files) and shows what Open makes of
// it. Run with -rewrite to regenerate the expected output after a deliberate
// change.
//
// Commands (the partition directory is /p-0):
//
//	open [segment-bytes=N] [index-interval=N] [pagecache]
//	                       open (recover) the log; prints what recovery logged
//	                       and the recovered state
//	append [batches=N] [records=N] [size=N]
//	                       append N batches (default 1) of records of size bytes
//	sync                   wait until everything appended is durable
//	close                  close the log cleanly
//	hold-syncs             group-commit fsyncs of the active segment wait until the
//	                       next crash (appends stay unsynced, deterministically)
//	crash                  power cut: keep only what was durable; the log is gone
//	kill                   process crash (kill -9): the files keep everything written
//	tear [seg=BASE] bytes=N
//	                       cut the last N bytes of a segment (default: the last)
//	corrupt [seg=BASE] batch=K
//	                       flip one byte inside the K-th batch (0-based) of a segment
//	write name=NAME [copy=NAME] [bytes=N]
//	                       add a file: a copy of another file of the directory, or N bytes
//	remove name=NAME       remove a file
//	ls                     list the directory (size, and what a power cut would lose)
//	read [from=OFFSET]     list the batches a reader gets
//	state                  the open log's segments and offsets
//	damage                 what recovery and Scan set aside (Log.Damage)
//	scrub                  one full scrubber pass over the closed segments
//	scan                   the batches Scan passes on (as the broker's state rebuild sees them)
//	reset                  start over with an empty filesystem
func TestRecoveryDataDriven(t *testing.T) {
	testHookBeforeSync = ddHook
	defer func() { testHookBeforeSync = nil }()
	datadriven.RunTest(t, "testdata/recovery", func(t *testing.T, d *datadriven.TestData) string {
		return ddRecovery(t, d)
	})
}

const ddDir = "/p-0"

// ddHold makes group-commit fsyncs wait (hold-syncs) until the next crash, so
// that what a crash loses does not depend on the flusher's timing.
var ddHold struct {
	sync.Mutex
	on bool
	ch chan struct{}
}

func ddHook() {
	ddHold.Lock()
	on, ch := ddHold.on, ddHold.ch
	ddHold.Unlock()
	if on {
		<-ch
	}
}

func ddRelease() {
	ddHold.Lock()
	defer ddHold.Unlock()
	if ddHold.on {
		close(ddHold.ch)
		ddHold.on = false
	}
}

// ddEnv is the state of one testdata file.
type ddEnv struct {
	fs     *vfs.MemFS
	l      *Log
	logBuf bytes.Buffer
	cfg    Config
}

var ddEnvs = map[*testing.T]*ddEnv{}

func ddRecovery(t *testing.T, d *datadriven.TestData) string {
	e := ddEnvs[t]
	if e == nil {
		e = &ddEnv{fs: vfs.NewMem()}
		ddEnvs[t] = e
		t.Cleanup(func() {
			ddRelease()
			if e.l != nil {
				e.l.Close()
			}
			delete(ddEnvs, t)
		})
	}
	out, err := e.run(t, d)
	if err != nil {
		return fmt.Sprintf("error: %v\n", err)
	}
	return out
}

func (e *ddEnv) needLog() error {
	if e.l == nil {
		return fmt.Errorf("no open log")
	}
	return nil
}

func (e *ddEnv) run(t *testing.T, d *datadriven.TestData) (string, error) {
	switch d.Cmd {
	case "open":
		if e.l != nil {
			return "", fmt.Errorf("log already open")
		}
		cfg := Config{IndexIntervalBytes: 256, SegmentBytes: 4096}
		if d.HasArg("segment-bytes") {
			d.ScanArgs(t, "segment-bytes", &cfg.SegmentBytes)
		}
		if d.HasArg("index-interval") {
			d.ScanArgs(t, "index-interval", &cfg.IndexIntervalBytes)
		}
		if d.HasArg("pagecache") {
			cfg.Sync = SyncPageCache
		}
		e.cfg = cfg
		e.logBuf.Reset()
		l, err := Open(ddDir, cfg, Options{FS: e.fs, Logger: ddLogger(&e.logBuf), Now: ddNow})
		out := e.logBuf.String()
		if err != nil {
			return out + fmt.Sprintf("open: %v\n", err), nil
		}
		e.l = l
		return out + e.state(), nil

	case "append":
		if err := e.needLog(); err != nil {
			return "", err
		}
		batches, n, size := 1, 3, 20
		d.MaybeScanArgs(t, "batches", &batches)
		d.MaybeScanArgs(t, "records", &n)
		d.MaybeScanArgs(t, "size", &size)
		var sb strings.Builder
		for range batches {
			base, end, err := e.l.Append(batchOf(t, n, size, 1_000), 0)
			if err != nil {
				fmt.Fprintf(&sb, "append: %v\n", err)
				break
			}
			fmt.Fprintf(&sb, "offsets [%d, %d)\n", base, end)
		}
		return sb.String(), nil

	case "sync":
		if err := e.needLog(); err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.l.WaitDurable(ctx, e.l.LogEndOffset()); err != nil {
			return fmt.Sprintf("sync: %v\n", err), nil
		}
		return fmt.Sprintf("durable up to %d\n", e.l.LogEndOffset()), nil

	case "close":
		if err := e.needLog(); err != nil {
			return "", err
		}
		err := e.l.Close()
		e.l = nil
		if err != nil {
			return fmt.Sprintf("close: %v\n", err), nil
		}
		return "ok\n", nil

	case "hold-syncs":
		ddHold.Lock()
		ddHold.on, ddHold.ch = true, make(chan struct{})
		ddHold.Unlock()
		return "ok\n", nil

	case "crash", "kill":
		crashed := e.fs.CrashClone(vfs.CrashOptions{ProcessOnly: d.Cmd == "kill"})
		ddRelease()
		if e.l != nil {
			e.l.Close() // on the old filesystem: nothing of it reaches the clone
			e.l = nil
		}
		e.fs = crashed
		return e.ls(), nil

	case "tear", "corrupt":
		if e.l != nil {
			return "", fmt.Errorf("close or crash the log first")
		}
		name, err := e.segmentArg(t, d)
		if err != nil {
			return "", err
		}
		f, err := e.fs.OpenReadWrite(filepath.Join(ddDir, name))
		if err != nil {
			return "", err
		}
		defer f.Close()
		fi, _ := f.Stat()
		if d.Cmd == "tear" {
			var n int64
			d.ScanArgs(t, "bytes", &n)
			if err := f.Truncate(fi.Size() - n); err != nil {
				return "", err
			}
			f.Sync()
			return fmt.Sprintf("%s: %d -> %d bytes\n", name, fi.Size(), fi.Size()-n), nil
		}
		var k int
		d.ScanArgs(t, "batch", &k)
		b, _ := vfs.ReadAll(f)
		pos := 0
		for i := 0; i < k && pos+records.LogOverhead <= len(b); i++ {
			pos += records.LogOverhead + int(binary.BigEndian.Uint32(b[pos+8:]))
		}
		flip := pos + records.HeaderSize + 2 // inside the records, under the CRC
		if d.HasArg("header") {
			flip = pos + records.OffsetMagic // the framing: the batch no longer parses
		}
		if flip >= len(b) {
			return "", fmt.Errorf("%s has no batch %d", name, k)
		}
		if _, err := f.WriteAt([]byte{b[flip] ^ 0xff}, int64(flip)); err != nil {
			return "", err
		}
		f.Sync()
		return fmt.Sprintf("%s: flipped byte %d (batch %d at position %d)\n", name, flip, k, pos), nil

	case "write":
		var name string
		d.ScanArgs(t, "name", &name)
		var data []byte
		if d.HasArg("copy") {
			var src string
			d.ScanArgs(t, "copy", &src)
			var err error
			if data, err = vfs.ReadFile(e.fs, filepath.Join(ddDir, src)); err != nil {
				return "", err
			}
		} else {
			var n int
			d.ScanArgs(t, "bytes", &n)
			data = bytes.Repeat([]byte{0xab}, n)
		}
		if err := vfs.WriteFileAtomic(e.fs, filepath.Join(ddDir, name), data); err != nil {
			return "", err
		}
		return e.ls(), nil

	case "remove":
		var name string
		d.ScanArgs(t, "name", &name)
		if err := e.fs.Remove(filepath.Join(ddDir, name)); err != nil {
			return "", err
		}
		if err := vfs.SyncDir(e.fs, ddDir); err != nil {
			return "", err
		}
		return e.ls(), nil

	case "ls":
		return e.ls(), nil

	case "reset":
		ddRelease()
		if e.l != nil {
			e.l.Close()
			e.l = nil
		}
		e.fs = vfs.NewMem()
		return "ok\n", nil

	case "read":
		if err := e.needLog(); err != nil {
			return "", err
		}
		from := e.l.LogStartOffset()
		d.MaybeScanArgs(t, "from", &from)
		var sb strings.Builder
		var buf []byte
		for from < e.l.HighWatermark() {
			var err error
			buf, err = e.l.Read(buf[:0], from, 1<<20, true, -1)
			if err != nil {
				fmt.Fprintf(&sb, "read %d: %v\n", from, err)
				break
			}
			if len(buf) == 0 {
				break
			}
			for rest := buf; len(rest) > 0; {
				b, r, err := records.Next(rest)
				if err != nil {
					return "", err
				}
				h, err := records.Validate(b)
				if err != nil {
					fmt.Fprintf(&sb, "batch at %d: %v\n", from, err)
					return sb.String(), nil
				}
				fmt.Fprintf(&sb, "batch [%d, %d]\n", h.BaseOffset, h.LastOffset())
				from = h.LastOffset() + 1
				rest = r
			}
		}
		if sb.Len() == 0 {
			return "no batches\n", nil
		}
		return sb.String(), nil

	case "state":
		if err := e.needLog(); err != nil {
			return "", err
		}
		return e.state(), nil

	case "scrub":
		if err := e.needLog(); err != nil {
			return "", err
		}
		var total int64
		for {
			n, done, err := e.l.ScrubStep(1 << 20)
			total += n
			if err != nil {
				return fmt.Sprintf("scrub: %v\n", err), nil
			}
			if done {
				break
			}
		}
		return fmt.Sprintf("verified %d bytes\n", total), nil

	case "damage":
		if err := e.needLog(); err != nil {
			return "", err
		}
		var sb strings.Builder
		for _, dm := range e.l.Damage() {
			fmt.Fprintf(&sb, "%s [%d, %d) offsets %d..%d quarantined=%q: %s\n", dm.Segment, dm.Pos, dm.End,
				dm.FirstOffset, dm.LastOffset, dm.Quarantined, dm.Reason)
		}
		if sb.Len() == 0 {
			return "none\n", nil
		}
		return sb.String(), nil

	case "scan":
		if err := e.needLog(); err != nil {
			return "", err
		}
		var sb strings.Builder
		err := e.l.Scan(0, func(h records.Header, _ []byte) bool {
			fmt.Fprintf(&sb, "batch [%d, %d]\n", h.BaseOffset, h.LastOffset())
			return true
		})
		if err != nil {
			fmt.Fprintf(&sb, "scan: %v\n", err)
		}
		return sb.String(), nil
	}
	return "", fmt.Errorf("unknown command %q", d.Cmd)
}

// segmentArg returns the .log file name picked by seg=BASE, or the last.
func (e *ddEnv) segmentArg(t *testing.T, d *datadriven.TestData) (string, error) {
	if d.HasArg("seg") {
		var base int64
		d.ScanArgs(t, "seg", &base)
		return segmentName(base, logSuffix), nil
	}
	names, err := e.fs.List(ddDir)
	if err != nil {
		return "", err
	}
	last := ""
	for _, n := range names {
		if _, suf, ok := parseSegmentName(n); ok && suf == logSuffix {
			last = n
		}
	}
	if last == "" {
		return "", fmt.Errorf("no segment")
	}
	return last, nil
}

// ls lists the partition directory (recursively) as the MemFS sees it.
func (e *ddEnv) ls() string {
	var sb strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(e.fs.String()), "\n") {
		if rest, ok := strings.CutPrefix(line, ddDir+"/"); ok && rest != "" {
			sb.WriteString(rest + "\n")
		}
	}
	if sb.Len() == 0 {
		return "(empty)\n"
	}
	return sb.String()
}

// state prints the open log's offsets and segments.
func (e *ddEnv) state() string {
	l := e.l
	var sb strings.Builder
	l.mu.RLock()
	fmt.Fprintf(&sb, "log start %d, end %d, high watermark %d\n", l.mu.logStart, l.mu.leo, l.mu.hw)
	for _, s := range l.mu.segs {
		fmt.Fprintf(&sb, "segment %d: offsets [%d, %d), %d bytes\n", s.base, s.base, s.next, s.size)
	}
	l.mu.RUnlock()
	return sb.String()
}

// ddLogger writes recovery reports as "level: message key=value ...", without
// time and with paths relative to the partition directory.
func ddLogger(w *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey:
				return slog.Attr{}
			case "dir":
				return slog.Attr{}
			}
			if a.Value.Kind() == slog.KindString {
				return slog.String(a.Key, strings.ReplaceAll(a.Value.String(), ddDir+"/", ""))
			}
			return a
		},
	}))
}

func ddNow() time.Time { return time.UnixMilli(2_000_000) }
