package lake

import (
	"fmt"
	"sync"

	"github.com/parquet-go/parquet-go"
)

// encoder runs a sink's Parquet encoding, compression and file writes on a goroutine of
// its own, so that they overlap with the executor's work on the next rows (on two cores,
// the sink writes up to twice as fast as when the executor's goroutine encoded each batch
// itself). The sink hands it batches of rows and file closes in order; the encoder applies
// them in that order. PreCommit waits for it to drain (wait), so a checkpoint still lists
// only files that are closed and durable.
//
// The goroutine exists only while there is work queued: an executor discarded without a
// checkpoint leaves nothing running. Errors are kept and returned by the next call.
type encoder[T any] struct {
	opts []parquet.WriterOption

	mu      sync.Mutex
	cond    sync.Cond
	queue   []encJob[T]
	running bool
	err     error
	closed  []entry // files closed since the last wait
	free    [][]T   // batches to reuse

	// Owned by the goroutine that drains the queue (one at a time).
	writers []*parquet.GenericWriter[T] // closed writers, to reuse with Reset
}

type encJob[T any] struct {
	f     *file[T]
	rows  []T
	close bool
}

// maxQueued bounds the batches queued (about 2,000 rows): enough to keep the encoder busy.
const maxQueued = 4

// batch returns an empty batch of rows.
func (e *encoder[T]) batch() []T {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n := len(e.free); n > 0 {
		b := e.free[n-1]
		e.free = e.free[:n-1]
		return b
	}
	return make([]T, 0, batchRows)
}

// write queues rows for f; the encoder owns the slice from now on.
func (e *encoder[T]) write(f *file[T], rows []T) error {
	return e.push(encJob[T]{f: f, rows: rows})
}

// close queues the last rows of f and its close.
func (e *encoder[T]) close(f *file[T], rows []T) error {
	return e.push(encJob[T]{f: f, rows: rows, close: true})
}

func (e *encoder[T]) push(j encJob[T]) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cond.L == nil {
		e.cond.L = &e.mu
	}
	for e.err == nil && len(e.queue) >= maxQueued {
		e.cond.Wait()
	}
	if e.err != nil {
		if j.close {
			_ = j.f.obj.Abort()
		}
		return e.err
	}
	e.queue = append(e.queue, j)
	if !e.running {
		e.running = true
		go e.drain()
	}
	return nil
}

// wait waits until every queued job is done, and returns the first error.
func (e *encoder[T]) wait() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cond.L == nil {
		e.cond.L = &e.mu
	}
	for e.running {
		e.cond.Wait()
	}
	return e.err
}

// takeClosed waits like wait, and returns the files closed since the last takeClosed in
// the order their closes were queued.
func (e *encoder[T]) takeClosed() ([]entry, error) {
	if err := e.wait(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	closed := e.closed
	e.closed = nil
	return closed, nil
}

func (e *encoder[T]) drain() {
	e.mu.Lock()
	for len(e.queue) > 0 && e.err == nil {
		j := e.queue[0]
		e.queue = e.queue[1:]
		e.mu.Unlock()
		err := e.do(j)
		e.mu.Lock()
		if j.rows != nil {
			clear(j.rows)
			e.free = append(e.free, j.rows[:0])
		}
		if err != nil {
			e.err = err
		} else if j.close {
			e.closed = append(e.closed, j.f.e)
		}
		e.cond.Broadcast()
	}
	if e.err != nil {
		for _, j := range e.queue {
			if j.close {
				_ = j.f.obj.Abort()
			}
		}
		e.queue = nil
	}
	e.running = false
	e.cond.Broadcast()
	e.mu.Unlock()
}

// do writes a job's rows, and closes its file if asked: footer written, object closed
// (synced or uploaded), the writer kept for the next file.
func (e *encoder[T]) do(j encJob[T]) error {
	f := j.f
	if f.w == nil {
		if n := len(e.writers); n > 0 {
			f.w = e.writers[n-1]
			e.writers = e.writers[:n-1]
			f.w.Reset(&f.cw)
		} else {
			f.w = parquet.NewGenericWriter[T](&f.cw, e.opts...)
		}
	}
	if len(j.rows) > 0 {
		_, err := f.w.Write(j.rows)
		f.rows += int64(len(j.rows))
		f.size.Store(f.cw.n)
		if err != nil {
			_ = f.obj.Abort()
			return fmt.Errorf("lake: write %s: %w", f.e.staged, err)
		}
	}
	if !j.close {
		return nil
	}
	if err := f.w.Close(); err != nil {
		_ = f.obj.Abort()
		return fmt.Errorf("lake: close %s: %w", f.e.staged, err)
	}
	e.writers = append(e.writers, f.w)
	f.w = nil
	return f.obj.Close()
}
