package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// sourceRT tracks one source's watermark inside an executor.
//
// Generated watermarks (the default): each partition's watermark is its newest element
// timestamp minus the source's MaxOutOfOrderness (MinTime before its first element). A
// partition without input for IdleTimeout of processing time is idle and does not count.
// The source's watermark is the minimum over its non-idle partitions and never decreases;
// when every partition is idle the source is idle: downstream minimums skip it and its
// watermark stays where it was.
//
// Manual watermarks (ExecConfig.ManualWatermarks): SetWatermark sets each partition's
// watermark directly.
type sourceRT struct {
	ex     *Executor
	node   *node
	spec   *sourceSpec
	manual bool
	parts  []*partWM // indexed by partition number
	wm     Time
	idle   bool
	done   bool
	// assignedNone is set when Assign declared no partitions at all.
	assignedNone bool
}

type partWM struct {
	assigned   bool
	maxTs      Time
	explicit   Time
	lastActive Time
	forcedIdle bool
	// behind: the runner knows input is waiting in this partition (its reader has not reached
	// the partition's end), so it is never idle, however long ago its last element arrived.
	behind bool
}

func (s *sourceRT) part(p int32) *partWM {
	if p < 0 {
		p = 0
	}
	for int(p) >= len(s.parts) {
		s.parts = append(s.parts, nil)
	}
	pw := s.parts[p]
	if pw == nil {
		pw = &partWM{assigned: true, maxTs: MinTime, explicit: MinTime, lastActive: s.ex.procNow}
		s.parts[p] = pw
	}
	return pw
}

func (s *sourceRT) recompute() {
	if s.done {
		s.wm, s.idle = MaxTime, false
		return
	}
	m, active, known := MaxTime, false, false
	for _, pw := range s.parts {
		if pw == nil || !pw.assigned {
			continue
		}
		known = true
		if pw.forcedIdle {
			continue
		}
		var w Time
		if s.manual {
			w = pw.explicit
		} else {
			if !pw.behind && s.spec.idle >= 0 && s.ex.procNow-pw.lastActive >= s.spec.idle {
				continue
			}
			w = pw.maxTs
			if w > MinTime {
				w = w.plus(-s.spec.bound)
			}
		}
		active = true
		if w < m {
			m = w
		}
	}
	if !active {
		// Every partition idle, or none assigned by Assign: the source does not hold the
		// watermark back. A source that has seen nothing at all yet still holds it.
		s.idle = known || s.assignedNone
		return
	}
	s.idle = false
	if m > s.wm {
		s.wm = m
	}
}

func (s *sourceRT) finish() { s.done = true }

// pushSource pushes one source element: it updates the partition's watermark state and
// sends the element down the graph. Watermarks move only on AdvanceProcessingTime,
// SetWatermark or Finish, never per element.
func pushSource[T any](rt *sourceRT, out *fanout[T], partition int32, v T, t Time) error {
	if !validTimestamp(t) {
		return fmt.Errorf("%w: timestamp %d outside [MinTime, MaxTime)", ErrBadTimestamp, int64(t))
	}
	rt.observe(partition, t)
	out.push(Elem[T]{Value: v, Time: t, Window: GlobalWindow})
	return nil
}

// ErrBadTimestamp is returned (or sent to Failures) for an element whose timestamp is
// outside [MinTime, MaxTime).
var ErrBadTimestamp = errors.New("stream: invalid timestamp")

// Push feeds one typed element of src (a source of this executor's pipeline) at event time
// t into partition partition. It is how streamtest feeds input; the Kafka runner uses
// SourceHandle.Process with records.
func Push[T any](ex *Executor, src Source[T], partition int32, v T, t Time) error {
	if err := ex.check(); err != nil {
		return err
	}
	rt, ok := ex.sources[src.Name]
	if !ok {
		return fmt.Errorf("stream: no source named %q", src.Name)
	}
	out, ok := ex.ports[rt.node.id].(*fanout[T])
	if !ok {
		return fmt.Errorf("stream: source %q does not carry %T", src.Name, v)
	}
	if src.Timestamp != nil {
		t = src.Timestamp(v, t)
	}
	if err := pushSource(rt, out, partition, v, t); err != nil {
		ex.failure(src.Name, err, nil, v, t)
	}
	return ex.err
}

// Pusher feeds typed elements into one source of an executor without looking the source up
// per element (the fast form of Push).
type Pusher[T any] struct {
	ex  *Executor
	rt  *sourceRT
	out *fanout[T]
	src Source[T]
}

// NewPusher returns a Pusher for src, which must be a source of ex's pipeline carrying T.
func NewPusher[T any](ex *Executor, src Source[T]) (*Pusher[T], error) {
	rt, ok := ex.sources[src.Name]
	if !ok {
		return nil, fmt.Errorf("stream: no source named %q", src.Name)
	}
	out, ok := ex.ports[rt.node.id].(*fanout[T])
	if !ok {
		return nil, fmt.Errorf("stream: source %q does not carry %T", src.Name, *new(T))
	}
	return &Pusher[T]{ex: ex, rt: rt, out: out, src: src}, nil
}

// Push feeds v at event time t into a partition (see Push).
func (p *Pusher[T]) Push(partition int32, v T, t Time) error {
	if err := p.ex.check(); err != nil {
		return err
	}
	if p.src.Timestamp != nil {
		t = p.src.Timestamp(v, t)
	}
	if err := pushSource(p.rt, p.out, partition, v, t); err != nil {
		p.ex.failure(p.src.Name, err, nil, v, t)
	}
	return p.ex.err
}

func (s *sourceRT) observe(partition int32, t Time) {
	pw := s.part(partition)
	pw.lastActive = s.ex.procNow
	pw.forcedIdle = false
	if t > pw.maxTs {
		pw.maxTs = t
	}
}

// SourceHandle is a runner's handle on one source of an executor.
type SourceHandle struct {
	rt *sourceRT
}

// Source returns the handle of the named source.
func (ex *Executor) Source(name string) (*SourceHandle, error) {
	rt, ok := ex.sources[name]
	if !ok {
		return nil, fmt.Errorf("stream: no source named %q", name)
	}
	return &SourceHandle{rt: rt}, nil
}

// Process decodes one record of this source and pushes it through the pipeline. A record
// that does not decode goes to the Failures stream (or is fatal without one). The record's
// slices are not retained.
func (h *SourceHandle) Process(r *Record) error {
	ex := h.rt.ex
	if err := ex.check(); err != nil {
		return err
	}
	port := ex.ports[h.rt.node.id]
	h.rt.part(r.Partition).lastActive = ex.procNow
	if err := h.rt.spec.decode(h.rt, port, r); err != nil {
		cp := *r
		cp.Key, cp.Value = append([]byte(nil), r.Key...), append([]byte(nil), r.Value...)
		ex.failure(h.rt.spec.name, err, &cp, nil, r.Timestamp)
	}
	return ex.err
}

// Assign declares the partitions this task reads. A partition that has not produced input
// counts as idle once its IdleTimeout passes. Partitions not listed are forgotten (after a
// rebalance took them away).
func (h *SourceHandle) Assign(partitions []int32) {
	h.rt.assignedNone = len(partitions) == 0
	keep := map[int32]bool{}
	for _, p := range partitions {
		keep[p] = true
		h.rt.part(p).assigned = true
	}
	for i, pw := range h.rt.parts {
		if pw != nil && !keep[int32(i)] {
			pw.assigned = false
		}
	}
}

// SetIdle marks a partition idle (or active again) explicitly, for example when the runner
// knows it has consumed up to the end of the partition.
func (h *SourceHandle) SetIdle(partition int32, idle bool) {
	h.rt.part(partition).forcedIdle = idle
}

// SetBehind tells the executor whether input is known to be waiting in a partition: the
// runner's reader has not reached the partition's end offset. A partition that is behind is
// never idle, however long its last element is ago, so the watermark cannot pass data that is
// still to be read; idle means caught up and quiet for IdleTimeout. When a partition stops
// being behind, its idle timeout starts again from the current processing time. Runners
// that cannot tell leave it false (the idle timeout alone then decides).
func (h *SourceHandle) SetBehind(partition int32, behind bool) {
	pw := h.rt.part(partition)
	if pw.behind && !behind {
		pw.lastActive = h.rt.ex.procNow
	}
	pw.behind = behind
}

// SetWatermark sets the watermark of one partition (ManualWatermarks) and propagates it.
// Watermarks never move back: a lower value is ignored.
func (h *SourceHandle) SetWatermark(partition int32, wm Time) error {
	ex := h.rt.ex
	if err := ex.check(); err != nil {
		return err
	}
	pw := h.rt.part(partition)
	if wm > pw.explicit {
		pw.explicit = wm
	}
	ex.propagate()
	return ex.err
}

// Watermark returns the source's current watermark.
func (h *SourceHandle) Watermark() Time { return h.rt.wm }

// ---- executor meta state (watermarks) ----

var metaKey = []byte("\x00executor")

func (ex *Executor) saveMeta() error {
	b := binary.AppendUvarint(nil, uint64(len(ex.p.nodes)))
	for i, n := range ex.p.nodes {
		b = appendChunk(b, []byte(n.name))
		b = appendTime(b, ex.inWM[i])
		b = appendTime(b, ex.outWM[i])
	}
	b = binary.AppendUvarint(b, uint64(len(ex.srcList)))
	for _, s := range ex.srcList {
		b = appendChunk(b, []byte(s.spec.name))
		b = appendTime(b, s.wm)
		b = binary.AppendUvarint(b, uint64(len(s.parts)))
		for _, pw := range s.parts {
			if pw == nil {
				b = append(b, 0)
				continue
			}
			b = append(b, 1)
			b = appendTime(b, pw.maxTs)
			b = appendTime(b, pw.explicit)
		}
	}
	if err := ex.store.Put(metaKey, b); err != nil {
		ex.fatal(fmt.Errorf("stream: flush: %w", err))
	}
	return ex.err
}

func (ex *Executor) loadMeta() error {
	b, err := ex.store.Get(metaKey)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream: restore: %w", err)
	}
	bad := func() error { return fmt.Errorf("stream: restore: %w", errShort) }
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return bad()
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		var name []byte
		if name, b, err = readChunk(b); err != nil {
			return bad()
		}
		var in, out Time
		if in, b, err = readTime(b); err != nil {
			return bad()
		}
		if out, b, err = readTime(b); err != nil {
			return bad()
		}
		if nd, ok := ex.p.names[string(name)]; ok {
			ex.inWM[nd.id], ex.outWM[nd.id] = in, out
		}
	}
	ns, k := binary.Uvarint(b)
	if k <= 0 {
		return bad()
	}
	b = b[k:]
	for i := uint64(0); i < ns; i++ {
		var name []byte
		if name, b, err = readChunk(b); err != nil {
			return bad()
		}
		var wm Time
		if wm, b, err = readTime(b); err != nil {
			return bad()
		}
		np, k := binary.Uvarint(b)
		if k <= 0 {
			return bad()
		}
		b = b[k:]
		s := ex.sources[string(name)]
		if s != nil {
			s.wm = wm
		}
		for p := uint64(0); p < np; p++ {
			if len(b) < 1 {
				return bad()
			}
			present := b[0]
			b = b[1:]
			if present == 0 {
				continue
			}
			var mx, expl Time
			if mx, b, err = readTime(b); err != nil {
				return bad()
			}
			if expl, b, err = readTime(b); err != nil {
				return bad()
			}
			if s != nil {
				pw := s.part(int32(p))
				pw.maxTs, pw.explicit = mx, expl
			}
		}
	}
	return nil
}
