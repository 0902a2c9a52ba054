package stream

import (
	"errors"
	"fmt"
)

// TwoPhaseSink writes a stream's elements to an external system and makes them visible
// together with the runner's checkpoints: a two-phase commit driven by the executor, as
// Flink's TwoPhaseCommitSinkFunction is driven by its checkpoints. Packages such as
// stream/lake (Parquet files) implement it; WriteTwoPhase attaches one to a stream.
//
// The executor calls, from its one goroutine:
//
//   - Restore once, before anything else, with the state returned by the PreCommit of the
//     last durable checkpoint (nil when there is none). The sink must finish the commit of
//     that state (idempotently: it may have been committed already) and discard anything
//     written after it: that input is replayed.
//   - Write for each element, and Tick as processing time advances.
//   - PreCommit at each checkpoint (Executor.Flush): make everything written so far
//     durable but not yet visible, and return the state that lets Restore commit it. The
//     state is stored with the checkpoint.
//   - Commit when the checkpoint of the last PreCommit is durable (Executor.Committed, or
//     the first call the runner makes on the executor after Flush, see below): make it
//     visible. A sink must tolerate PreCommit again before Commit (a checkpoint whose
//     commit failed was retried): the new state must then cover the older one too.
type TwoPhaseSink[T any] interface {
	Restore(state []byte) error
	Write(e Elem[T]) error
	Tick(now Time) error
	PreCommit() (state []byte, err error)
	Commit() error
}

// WriteTwoPhase writes s to a TwoPhaseSink made by newSink, one per executor (task). The
// sink's state is kept under the transform's name (Named; default "twophase#<n>"), so name
// it for state that must survive a change of the pipeline.
func WriteTwoPhase[T any](s Stream[T], newSink func() (TwoPhaseSink[T], error), opts ...Option) {
	o := collect(opts)
	in, p := s.n, s.Pipeline()
	if p == nil || !p.check("WriteTwoPhase", in) {
		return
	}
	if newSink == nil {
		p.fail("WriteTwoPhase: nil sink constructor")
		return
	}
	n := p.add(&node{inputs: []*node{in}, newPort: newFanout[T], ws: in.ws, grouped: in.grouped}, o.name, o.kind("twophase"))
	n.build = func(b *builder) (operator, error) {
		sk, err := newSink()
		if err != nil {
			return nil, err
		}
		if sk == nil {
			return nil, errors.New("sink constructor returned nil")
		}
		op := &twoPhaseOp[T]{ex: b.ex, sink: sk, name: n.name, key: append(opPrefix(n.name), "msink"...)}
		inPort[T](b, in).add(op)
		return op, nil
	}
}

// twoPhaseOp drives a TwoPhaseSink. Between Flush and the commit of its checkpoint the
// sink holds a pre-committed state (pending). The runner contract (Executor.Flush) says
// that an executor is called again after Flush only once the checkpoint is durable, and is
// discarded otherwise; so the first element or processing-time advance after Flush commits
// the pending state, unless Executor.Committed did already.
type twoPhaseOp[T any] struct {
	ex      *Executor
	sink    TwoPhaseSink[T]
	name    string
	key     []byte
	opened  bool
	pending bool
	count   int64
}

func (o *twoPhaseOp[T]) open() bool {
	if !o.opened {
		o.opened = true
		if err := o.sink.Restore(nil); err != nil {
			o.ex.fatal(fmt.Errorf("stream: %s: restore: %w", o.name, err))
			return false
		}
	}
	return o.commitPending()
}

func (o *twoPhaseOp[T]) commitPending() bool {
	if o.pending {
		o.pending = false
		if err := o.sink.Commit(); err != nil {
			o.ex.fatal(fmt.Errorf("stream: %s: commit: %w", o.name, err))
			return false
		}
	}
	return true
}

func (o *twoPhaseOp[T]) push(e Elem[T]) {
	if o.ex.err != nil || !o.open() {
		return
	}
	o.count++
	if err := o.sink.Write(e); err != nil {
		o.ex.fatal(fmt.Errorf("stream: %s: write: %w", o.name, err))
	}
}

func (o *twoPhaseOp[T]) onWatermark(in Time) Time { return in }

func (o *twoPhaseOp[T]) onProcessingTime(now Time) {
	if o.ex.err != nil || !o.open() {
		return
	}
	if err := o.sink.Tick(now); err != nil {
		o.ex.fatal(fmt.Errorf("stream: %s: tick: %w", o.name, err))
	}
}

func (o *twoPhaseOp[T]) flush() error {
	if !o.opened {
		o.opened = true
		if err := o.sink.Restore(nil); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	st, err := o.sink.PreCommit()
	if err != nil {
		return fmt.Errorf("pre-commit: %w", err)
	}
	if err := o.ex.store.Put(o.key, st); err != nil {
		return err
	}
	o.pending = true
	return nil
}

func (o *twoPhaseOp[T]) restore() error {
	st, err := o.ex.store.Get(o.key)
	switch {
	case errors.Is(err, ErrNotFound):
		st = nil
	case err != nil:
		return err
	}
	o.opened = true
	return o.sink.Restore(st)
}

func (o *twoPhaseOp[T]) committed() error {
	if !o.pending {
		return nil
	}
	o.pending = false
	return o.sink.Commit()
}

func (o *twoPhaseOp[T]) counters(add func(string, int64)) { add("out", o.count) }

// Committed tells the executor that the checkpoint of its last Flush is durable (the
// runner's commit marker or transaction is acknowledged), so that two-phase sinks
// (WriteTwoPhase) make its output visible now. Without it they do so at the first element
// or processing-time advance after the Flush: a runner calls an executor after Flush only
// once the checkpoint is durable, and discards the executor when the commit fails.
func (ex *Executor) Committed() error {
	if ex.err != nil {
		return ex.err
	}
	for i, op := range ex.ops {
		if c, ok := op.(interface{ committed() error }); ok {
			if err := c.committed(); err != nil {
				ex.fatal(fmt.Errorf("stream: commit %s: %w", ex.p.nodes[i].name, err))
				return ex.err
			}
		}
	}
	return nil
}
