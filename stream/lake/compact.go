package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
)

// CompactConfig configures Compact.
type CompactConfig struct {
	// Table is the table's folder under the directory (as in Config).
	Table string
	// Before: only event-time folders (hr=, or dt= with daily partitioning) whose hour or
	// day ends at or before it are compacted. Required. Leave the writers' allowed
	// lateness and a commit interval of margin: a file committed into a folder while it is
	// compacted stays, but is not visible for the instant between the swap and its return.
	Before time.Time
	// MinFiles is the number of small files a folder needs to be compacted (default 2).
	MinFiles int
	// SmallFileSize: files of at least this size are left as they are (default 64 MiB).
	SmallFileSize int64
	// Compression of the merged files, as Config.Compression (default snappy).
	Compression string
	// RowGroupRows as in Config (default 64Ki).
	RowGroupRows int64
	// RetainOld keeps the replaced files this long (in the hidden journal) before a later
	// Compact deletes them, so that a reader that opened the old folder just before the
	// swap still lists all of it (default 1 minute; negative: delete them at once).
	RetainOld time.Duration
}

// CompactResult says what Compact did.
type CompactResult struct {
	Folders int   // folders compacted
	Merged  int   // small files merged away
	Rows    int64 // rows copied
}

// compactHook lets tests crash a compaction after a step ("merged", "planned",
// "exchanged"): it returns an error there.
var compactHook = func(string) error { return nil }

// plan is a compaction's journal entry: Table/_compact/<id>/plan.json, and its provenance
// record Table/_compacted/<id>.json, which the sink reads when a file its checkpoint lists
// is no longer in place.
type plan struct {
	Folder string   `json:"folder"` // folder relative to the table, slash-separated
	Merged string   `json:"merged"` // name of the merged file in the folder
	Inputs []string `json:"inputs"` // names of the files merged into it
}

// Compact merges the small committed files of each closed event-time folder of a table
// on a local directory into one file, so that readers open fewer, larger files. It first
// finishes or undoes any compaction a crash interrupted, so it is safe to run again after
// any failure; run one Compact per table at a time.
//
// Atomic for readers: the merged file is written under Table/_compact/<id>/new/ (hidden
// from readers), then the folder and that directory are swapped in one
// renameat2(RENAME_EXCHANGE): a reader listing the folder sees either the old files or
// the merged one, never both and never neither. The old files, now in the journal, are
// deleted (any that a commit added during the merge are moved back first).
//
// Compaction needs an atomic exchange of two directories, which S3 has no equivalent
// of: it is supported on a local directory (Linux), and refused otherwise.
func Compact(ctx context.Context, d Dir, cfg CompactConfig) (CompactResult, error) {
	var res CompactResult
	if cfg.Before.IsZero() {
		return res, errors.New("lake: CompactConfig.Before is required")
	}
	if err := exchangeSupported(); err != nil {
		return res, err
	}
	lc := Config{Storage: d, Table: cfg.Table, Compression: cfg.Compression, RowGroupRows: cfg.RowGroupRows}
	if err := lc.Validate(); err != nil {
		return res, err
	}
	codec, _ := lc.codec()
	minFiles := cfg.MinFiles
	if minFiles < 2 {
		minFiles = 2
	}
	small := cfg.SmallFileSize
	if small <= 0 {
		small = 64 << 20
	}
	retain := cfg.RetainOld
	if retain == 0 {
		retain = time.Minute
	}
	table := filepath.Join(string(d), filepath.FromSlash(cfg.Table))
	if err := recoverCompactions(table, retain); err != nil {
		return res, err
	}
	// Folders holding committed files, by their path relative to the table.
	folders := map[string][]string{}
	err := filepath.WalkDir(table, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() && p != table && strings.HasPrefix(e.Name(), "_") {
			return filepath.SkipDir
		}
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".parquet") {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if info.Size() >= small {
			return nil
		}
		rel, _ := filepath.Rel(table, filepath.Dir(p))
		folders[filepath.ToSlash(rel)] = append(folders[filepath.ToSlash(rel)], e.Name())
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("lake: compact: %w", err)
	}
	keys := make([]string, 0, len(folders))
	for k := range folders {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, folder := range keys {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		files := folders[folder]
		end, ok := folderEnd(folder)
		if !ok || end.After(cfg.Before) || len(files) < minFiles {
			continue
		}
		n, err := compactFolder(table, folder, files, codec, lc.rowGroupRows(), retain)
		if err != nil {
			return res, err
		}
		res.Folders++
		res.Merged += len(files)
		res.Rows += n
	}
	return res, nil
}

// folderEnd is the end of the event-time period a folder holds: its hr=HH hour or, without
// one, its dt= day. Folders without dt= are never closed.
func folderEnd(folder string) (time.Time, bool) {
	var day time.Time
	hour := -1
	for _, seg := range strings.Split(folder, "/") {
		if v, ok := strings.CutPrefix(seg, "dt="); ok {
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				return time.Time{}, false
			}
			day = t
		} else if v, ok := strings.CutPrefix(seg, "hr="); ok {
			t, err := time.Parse("15", v)
			if err != nil {
				return time.Time{}, false
			}
			hour = t.Hour()
		}
	}
	switch {
	case day.IsZero():
		return time.Time{}, false
	case hour < 0:
		return day.AddDate(0, 0, 1), true
	}
	return day.Add(time.Duration(hour+1) * time.Hour), true
}

func compactFolder(table, folder string, files []string, codec compress.Codec, rowGroupRows int64, retain time.Duration) (int64, error) {
	id := randomID()
	journal := filepath.Join(table, "_compact", id)
	newDir := filepath.Join(journal, "new")
	if err := os.MkdirAll(newDir, 0o755); err != nil {
		return 0, fmt.Errorf("lake: compact: %w", err)
	}
	dir := filepath.Join(table, filepath.FromSlash(folder))
	p := plan{Folder: folder, Merged: "part-compacted-" + id + ".parquet", Inputs: files}
	rows, err := mergeFiles(dir, files, filepath.Join(newDir, p.Merged), codec, rowGroupRows)
	if err != nil {
		_ = os.RemoveAll(journal)
		return 0, err
	}
	if err := compactHook("merged"); err != nil {
		return 0, err
	}
	b, _ := json.Marshal(p)
	if err := os.MkdirAll(filepath.Join(table, "_compacted"), 0o755); err != nil {
		return 0, fmt.Errorf("lake: compact: %w", err)
	}
	// The provenance record first, then the plan: a plan always has its record.
	if err := writeSynced(filepath.Join(table, "_compacted", id+".json"), b); err != nil {
		return 0, err
	}
	if err := writeSynced(filepath.Join(journal, "plan.json"), b); err != nil {
		return 0, err
	}
	if err := compactHook("planned"); err != nil {
		return 0, err
	}
	if err := exchange(dir, newDir); err != nil {
		return 0, fmt.Errorf("lake: compact %s: swap: %w", folder, err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return 0, err
	}
	if err := compactHook("exchanged"); err != nil {
		return 0, err
	}
	return rows, finishCompaction(table, journal, p, retain < 0)
}

// finishCompaction runs after the swap: files of the old folder that are not inputs
// (committed while the merge ran) go back into the folder; then the journal is deleted
// (deleteOld) or marked done, for a later run to delete once RetainOld has passed.
func finishCompaction(table, journal string, p plan, deleteOld bool) error {
	old := filepath.Join(journal, "new")
	dir := filepath.Join(table, filepath.FromSlash(p.Folder))
	entries, err := os.ReadDir(old)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("lake: compact: %w", err)
	}
	for _, e := range entries {
		if slices.Contains(p.Inputs, e.Name()) || e.Name() == p.Merged {
			continue
		}
		if err := os.Rename(filepath.Join(old, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("lake: compact: return %s: %w", e.Name(), err)
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	if !deleteOld {
		return writeSynced(filepath.Join(journal, "done"), nil)
	}
	if err := os.RemoveAll(journal); err != nil {
		return fmt.Errorf("lake: compact: %w", err)
	}
	return syncDir(filepath.Dir(journal))
}

// recoverCompactions finishes every compaction whose swap happened, undoes every other,
// and deletes the replaced files of compactions done more than retain ago.
func recoverCompactions(table string, retain time.Duration) error {
	entries, err := os.ReadDir(filepath.Join(table, "_compact"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lake: compact: %w", err)
	}
	for _, e := range entries {
		journal := filepath.Join(table, "_compact", e.Name())
		if st, err := os.Stat(filepath.Join(journal, "done")); err == nil {
			if retain < 0 || time.Since(st.ModTime()) >= retain {
				if err := os.RemoveAll(journal); err != nil {
					return fmt.Errorf("lake: compact: %w", err)
				}
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(journal, "plan.json"))
		var p plan
		if err == nil {
			err = json.Unmarshal(b, &p)
		}
		if err != nil { // no plan: the swap never happened
			if err := os.RemoveAll(journal); err != nil {
				return fmt.Errorf("lake: compact: %w", err)
			}
			_ = os.Remove(filepath.Join(table, "_compacted", e.Name()+".json"))
			continue
		}
		if _, err := os.Stat(filepath.Join(table, filepath.FromSlash(p.Folder), p.Merged)); err == nil {
			if err := finishCompaction(table, journal, p, retain < 0); err != nil {
				return err
			}
			continue
		}
		// Planned, not swapped: drop it (a later run compacts the folder again).
		if err := os.Remove(filepath.Join(table, "_compacted", e.Name()+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("lake: compact: %w", err)
		}
		if err := os.RemoveAll(journal); err != nil {
			return fmt.Errorf("lake: compact: %w", err)
		}
	}
	return nil
}

// compactedAway reports whether final (a name relative to the storage root) was merged
// into a compacted file that is in place.
func (d Dir) compactedAway(table, final string) bool {
	root := filepath.Join(string(d), filepath.FromSlash(table))
	entries, err := os.ReadDir(filepath.Join(root, "_compacted"))
	if err != nil {
		return false
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(final, strings.Trim(table, "/")), "/")
	folder, name := filepathSplit(rel)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(root, "_compacted", e.Name()))
		var p plan
		if err != nil || json.Unmarshal(b, &p) != nil {
			continue
		}
		if p.Folder != folder || !slices.Contains(p.Inputs, name) {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(p.Folder), p.Merged)); err == nil {
			return true
		}
	}
	return false
}

func filepathSplit(rel string) (folder, name string) {
	i := strings.LastIndex(rel, "/")
	if i < 0 {
		return ".", rel
	}
	return rel[:i], rel[i+1:]
}

func writeSynced(name string, b []byte) error {
	tmp := name + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("lake: compact: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		return fmt.Errorf("lake: compact: %w", err)
	}
	return syncDir(filepath.Dir(name))
}

// mergeFiles copies the rows of files (in dir) into out, which must not exist; all files
// must have the same schema.
func mergeFiles(dir string, files []string, out string, codec compress.Codec, rowGroupRows int64) (int64, error) {
	f, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, fmt.Errorf("lake: compact: %w", err)
	}
	defer f.Close()
	var w *parquet.Writer
	var schema *parquet.Schema
	var rows int64
	for _, name := range files {
		n, err := func() (int64, error) {
			in, err := os.Open(filepath.Join(dir, name))
			if err != nil {
				return 0, err
			}
			defer in.Close()
			st, err := in.Stat()
			if err != nil {
				return 0, err
			}
			pf, err := parquet.OpenFile(in, st.Size())
			if err != nil {
				return 0, err
			}
			if w == nil {
				schema = pf.Schema()
				w = parquet.NewWriter(f, schema, parquet.Compression(codec), parquet.MaxRowsPerRowGroup(rowGroupRows),
					parquet.CreatedBy("samsa stream/lake compaction", "", ""))
			} else if !parquet.EqualNodes(schema, pf.Schema()) {
				return 0, fmt.Errorf("schema differs from %s's", files[0])
			}
			var total int64
			for _, rg := range pf.RowGroups() {
				rr := rg.Rows()
				n, err := parquet.CopyRows(w, rr)
				rr.Close()
				total += n
				if err != nil {
					return total, err
				}
			}
			return total, nil
		}()
		rows += n
		if err != nil {
			return rows, fmt.Errorf("lake: compact %s: %w", filepath.Join(dir, name), err)
		}
	}
	if err := w.Close(); err != nil {
		return rows, fmt.Errorf("lake: compact: %w", err)
	}
	if err := f.Sync(); err != nil {
		return rows, fmt.Errorf("lake: compact: %w", err)
	}
	return rows, nil
}
