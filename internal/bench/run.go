package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Modes, as reported in Result.Mode.
const (
	ModeProduce = "produce"
	ModeConsume = "consume"
	ModeE2E     = "e2e"
)

// Result is the outcome of one run.
type Result struct {
	Mode  string // ModeProduce, ModeConsume or ModeE2E
	Topic string

	// Target is the number of messages the run meant to move.
	Target int64
	// Messages is the number moved: acknowledged (produce), read (consume)
	// or received (e2e).
	Messages int64
	// Bytes is the total value size of those messages.
	Bytes int64
	// Errors counts messages that failed: produce errors, and for e2e also
	// messages sent but not received within the drain timeout.
	Errors int64
	// FirstError is the first produce or fetch error, if any.
	FirstError error
	// Elapsed is the measured wall time: from the first send to the last
	// acknowledgement (produce), from the first poll to the last record
	// (consume), from the first send to the last receipt (e2e).
	Elapsed time.Duration
	// Latency summarises produce→ack (produce), produce→commit (produce in
	// transactions) or send→receive (e2e) latencies; it is zero for consume.
	Latency Percentiles
	// Transactions is the number of transactions committed (produce with
	// Config.TransactionRecords); 0 otherwise.
	Transactions int64
}

// MsgsPerSec is Messages / Elapsed.
func (r Result) MsgsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Messages) / r.Elapsed.Seconds()
}

// MiBPerSec is Bytes / Elapsed in MiB (1024×1024 bytes) per second.
func (r Result) MiBPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / (1 << 20) / r.Elapsed.Seconds()
}

// Produce runs the produce experiment (see the package doc). It returns an
// error wrapping ErrInvalidConfig for a bad Config, an error if the topic
// cannot be created or the client cannot be built, and ctx.Err() (with the
// partial Result) if ctx ends first. Produce failures of single messages are
// counted in Result.Errors, not returned.
func Produce(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	cfg = cfg.withDefaults()
	if cfg.Topic == "" {
		cfg.Topic = FreshTopic(ModeProduce)
	}
	if err := ensureTopic(ctx, cfg); err != nil {
		return Result{Mode: ModeProduce, Topic: cfg.Topic}, err
	}
	return produce(ctx, cfg, ModeProduce, int64(cfg.Messages))
}

// Consume runs the consume experiment (see the package doc), first filling
// the topic up to Config.Messages records if needed. Errors are as for
// Produce, plus any fetch error, which ends the run.
func Consume(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	cfg = cfg.withDefaults()
	if cfg.Topic == "" {
		cfg.Topic = FreshTopic(ModeConsume)
	}
	res := Result{Mode: ModeConsume, Topic: cfg.Topic, Target: int64(cfg.Messages)}
	have, err := countRecords(ctx, cfg)
	if err != nil {
		return res, err
	}
	if missing := int64(cfg.Messages) - have; missing > 0 {
		if err := ensureTopic(ctx, cfg); err != nil {
			return res, err
		}
		fill, err := produce(ctx, cfg, "fill", missing)
		if err != nil {
			return res, fmt.Errorf("fill topic %s: %w", cfg.Topic, err)
		}
		if fill.Errors > 0 {
			return res, fmt.Errorf("fill topic %s: %d of %d messages failed: %w", cfg.Topic, fill.Errors, missing, fill.FirstError)
		}
	}

	cl, err := kgo.NewClient(append(cfg.ClientOpts[:len(cfg.ClientOpts):len(cfg.ClientOpts)],
		kgo.ConsumeTopics(cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)...)
	if err != nil {
		return res, fmt.Errorf("consumer client: %w", err)
	}
	defer cl.Close()

	var done atomic.Int64
	prog := StartProgress(cfg.Progress, cfg.Terminal, cfg.ProgressInterval, ModeConsume, res.Target, done.Load)
	defer prog.Stop()

	start := time.Now()
	var last time.Time
	for res.Messages < res.Target {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			res.Elapsed = time.Since(start)
			return res, err
		}
		for _, f := range fs {
			for ti := range f.Topics {
				t := &f.Topics[ti]
				for pi := range t.Partitions {
					p := &t.Partitions[pi]
					if p.Err != nil {
						if res.FirstError == nil {
							res.FirstError = fmt.Errorf("fetch %s[%d]: %w", t.Topic, p.Partition, p.Err)
						}
						continue
					}
					for _, r := range p.Records {
						if res.Messages >= res.Target {
							break
						}
						res.Messages++
						res.Bytes += int64(len(r.Value))
					}
				}
			}
		}
		if res.FirstError != nil {
			break
		}
		last = time.Now()
		done.Store(res.Messages)
	}
	prog.Stop()
	res.Elapsed = last.Sub(start)
	if res.FirstError != nil {
		return res, res.FirstError
	}
	return res, nil
}

// EndToEnd runs the end-to-end latency experiment (see the package doc).
// Errors are as for Produce; a Size below StampSize or a negative Rate with
// a Duration wraps ErrInvalidConfig. Messages not received within
// Config.DrainTimeout after the last send count as Result.Errors.
func EndToEnd(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	cfg = cfg.withDefaults()
	if cfg.Size < StampSize {
		return Result{}, fmt.Errorf("%w: e2e size %d < %d (the stamp)", ErrInvalidConfig, cfg.Size, StampSize)
	}
	if cfg.Duration > 0 {
		if cfg.Rate < 0 {
			return Result{}, fmt.Errorf("%w: a duration needs a rate", ErrInvalidConfig)
		}
		cfg.Messages = max(int(float64(cfg.Rate)*cfg.Duration.Seconds()), 1)
	}
	if cfg.Topic == "" {
		cfg.Topic = FreshTopic(ModeE2E)
	}
	n := int64(cfg.Messages)
	res := Result{Mode: ModeE2E, Topic: cfg.Topic, Target: n}
	if err := ensureTopic(ctx, cfg); err != nil {
		return res, err
	}
	ends, err := listOffsets(ctx, cfg, true)
	if err != nil {
		return res, err
	}
	start := make(map[int32]kgo.Offset, len(ends))
	for p, o := range ends {
		start[p] = kgo.NewOffset().At(o)
	}

	cons, err := kgo.NewClient(append(cfg.ClientOpts[:len(cfg.ClientOpts):len(cfg.ClientOpts)],
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: start}),
		kgo.FetchMaxWait(100*time.Millisecond),
	)...)
	if err != nil {
		return res, fmt.Errorf("consumer client: %w", err)
	}
	defer cons.Close()

	rec := NewRecorder(cfg.Messages)
	seen := make([]uint64, (n+63)/64)
	var received, bytes, lastNanos atomic.Int64
	var fetchErr error
	consCtx, stopCons := context.WithCancel(ctx)
	defer stopCons()
	consDone := make(chan struct{})
	go func() {
		defer close(consDone)
		for received.Load() < n {
			fs := cons.PollFetches(consCtx)
			now := time.Now().UnixNano()
			if consCtx.Err() != nil {
				return
			}
			for _, f := range fs {
				for ti := range f.Topics {
					for pi := range f.Topics[ti].Partitions {
						p := &f.Topics[ti].Partitions[pi]
						if p.Err != nil {
							if fetchErr == nil {
								fetchErr = fmt.Errorf("fetch %s[%d]: %w", f.Topics[ti].Topic, p.Partition, p.Err)
							}
							continue
						}
						for _, r := range p.Records {
							sent, seq, err := ReadStamp(r.Value)
							if err != nil || seq >= uint64(n) || seen[seq/64]&(1<<(seq%64)) != 0 {
								continue // not ours, or a duplicate
							}
							seen[seq/64] |= 1 << (seq % 64)
							rec.Record(time.Duration(now - sent))
							bytes.Add(int64(len(r.Value)))
							received.Add(1)
						}
					}
				}
			}
			lastNanos.Store(now)
			if fetchErr != nil {
				return
			}
		}
	}()

	prog := StartProgress(cfg.Progress, cfg.Terminal, cfg.ProgressInterval, ModeE2E, n, received.Load)
	defer prog.Stop()
	began := time.Now()
	pres, perr := produceWith(ctx, cfg, n, true, nil)
	if perr == nil {
		drain := time.NewTimer(cfg.DrainTimeout)
		select {
		case <-consDone:
		case <-drain.C:
		case <-ctx.Done():
			perr = ctx.Err()
		}
		drain.Stop()
	}
	stopCons()
	<-consDone
	prog.Stop()

	res.Messages = received.Load()
	res.Bytes = bytes.Load()
	if last := lastNanos.Load(); last > 0 {
		res.Elapsed = time.Duration(last - began.UnixNano())
	}
	res.Latency = rec.Percentiles()
	res.Errors = n - res.Messages
	res.FirstError = pres.FirstError
	if res.FirstError == nil {
		res.FirstError = fetchErr
	}
	if perr != nil {
		return res, perr
	}
	if fetchErr != nil {
		return res, fetchErr
	}
	return res, nil
}

// produce sends n messages of cfg.Size bytes to cfg.Topic, showing progress
// under label, and measures produce→ack latency.
func produce(ctx context.Context, cfg Config, label string, n int64) (Result, error) {
	var prog *Progress
	res, err := produceWith(ctx, cfg, n, false, func(p *producer) {
		prog = StartProgress(cfg.Progress, cfg.Terminal, cfg.ProgressInterval, label, n, p.finished)
	})
	if prog != nil {
		prog.Stop()
	}
	res.Mode = ModeProduce
	return res, err
}

// slot is a pooled record with the time its current message was sent.
type slot struct {
	r    kgo.Record
	sent time.Time
}

// slotKey is the context key under which a slot's record finds its slot.
type slotKey struct{}

// producer holds the shared state of one produce loop; onAck is its promise.
type producer struct {
	newSlot func() *slot
	rec     *Recorder // nil: do not record ack latency
	size    int

	// free holds acknowledged slots for reuse. Unlike a sync.Pool it is not
	// emptied by the GC, so a run allocates slots only while the client's
	// buffer of in-flight records grows.
	free struct {
		sync.Mutex
		slots []*slot
	}

	acked  atomic.Int64
	failed atomic.Int64
	bytes  atomic.Int64

	errMu    sync.Mutex
	firstErr error
}

func (p *producer) finished() int64 { return p.acked.Load() + p.failed.Load() }

// onAck is the promise of every record; it recycles the record's slot.
func (p *producer) onAck(r *kgo.Record, err error) {
	s := r.Context.Value(slotKey{}).(*slot)
	if err != nil {
		p.failed.Add(1)
		p.errMu.Lock()
		if p.firstErr == nil {
			p.firstErr = err
		}
		p.errMu.Unlock()
	} else {
		if p.rec != nil {
			p.rec.Record(time.Since(s.sent))
		}
		p.acked.Add(1)
		p.bytes.Add(int64(len(r.Value)))
	}
	p.put(s)
}

// get returns a free slot, or a new one.
func (p *producer) get() *slot {
	p.free.Lock()
	if n := len(p.free.slots); n > 0 {
		s := p.free.slots[n-1]
		p.free.slots = p.free.slots[:n-1]
		p.free.Unlock()
		return s
	}
	p.free.Unlock()
	return p.newSlot()
}

func (p *producer) put(s *slot) {
	p.free.Lock()
	p.free.slots = append(p.free.slots, s)
	p.free.Unlock()
}

// produceWith runs the produce loop: n messages, paced at cfg.Rate if
// stamped (e2e), each stamped with its send time and sequence if stamped.
// started, if non-nil, is called once the producer exists, before the first
// send.
func produceWith(ctx context.Context, cfg Config, n int64, stamped bool, started func(*producer)) (Result, error) {
	res := Result{Mode: ModeProduce, Topic: cfg.Topic, Target: n}
	popts, err := ProducerOpts(cfg.Acks, cfg.Compression, cfg.Linger, cfg.BatchRecords, cfg.Size)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	txn := cfg.TransactionRecords > 0 && !stamped
	if txn {
		popts = append(popts, kgo.TransactionalID(fmt.Sprintf("samsa-bench-%d", time.Now().UnixNano())))
	}
	cl, err := kgo.NewClient(append(cfg.ClientOpts[:len(cfg.ClientOpts):len(cfg.ClientOpts)], popts...)...)
	if err != nil {
		return res, fmt.Errorf("producer client: %w", err)
	}
	defer cl.Close()
	if txn {
		return produceTxns(ctx, cfg, cl, n, started)
	}

	p := &producer{size: cfg.Size}
	if !stamped {
		p.rec = NewRecorder(int(n))
	}
	// All produce-bench messages share one random payload (as Kafka's perf
	// tool does); e2e messages each need their own buffer for the stamp.
	var shared []byte
	if !stamped {
		shared = make([]byte, cfg.Size)
		fillRandom(shared)
	}
	p.newSlot = func() *slot {
		s := new(slot)
		s.r.Context = context.WithValue(context.Background(), slotKey{}, s)
		if stamped {
			s.r.Value = make([]byte, cfg.Size)
			fillRandom(s.r.Value[StampSize:])
		} else {
			s.r.Value = shared
		}
		return s
	}
	promise := p.onAck
	if started != nil {
		started(p)
	}

	var pace *time.Timer
	var interval time.Duration
	if stamped && cfg.Rate > 0 {
		interval = time.Second / time.Duration(cfg.Rate)
		pace = time.NewTimer(time.Hour)
		pace.Stop()
		defer pace.Stop()
	}
	start := time.Now()
	for i := range n {
		if pace != nil {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d >= time.Millisecond {
				pace.Reset(d)
				select {
				case <-pace.C:
				case <-ctx.Done():
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		s := p.get()
		s.r = kgo.Record{Topic: cfg.Topic, Value: s.r.Value, Context: s.r.Context}
		s.sent = time.Now()
		if stamped {
			PutStamp(s.r.Value, s.sent.UnixNano(), uint64(i))
		}
		cl.Produce(ctx, &s.r, promise)
	}
	ferr := cl.Flush(ctx)
	res.Elapsed = time.Since(start)
	res.Messages = p.acked.Load()
	res.Bytes = p.bytes.Load()
	res.Errors = p.failed.Load()
	res.FirstError = p.firstErr
	if p.rec != nil {
		res.Latency = p.rec.Percentiles()
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if ferr != nil {
		return res, fmt.Errorf("flush: %w", ferr)
	}
	return res, nil
}

// produceTxns is the produce loop in transactions of cfg.TransactionRecords messages, one after
// another, each committed before the next begins. Latency is a record's produce call → its
// transaction's commit; messages of a transaction that fails to commit count as errors.
func produceTxns(ctx context.Context, cfg Config, cl *kgo.Client, n int64, started func(*producer)) (Result, error) {
	res := Result{Mode: ModeProduce, Topic: cfg.Topic, Target: n}
	value := make([]byte, cfg.Size)
	fillRandom(value)
	p := &producer{size: cfg.Size}
	if started != nil {
		started(p)
	}
	rec := NewRecorder(int(n))
	recs := make([]kgo.Record, cfg.TransactionRecords)
	sent := make([]time.Time, cfg.TransactionRecords)
	var produceErr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			produceErr.CompareAndSwap(nil, &err)
		}
	}
	fail := func(k int64, err error) {
		p.failed.Add(k)
		if p.firstErr == nil {
			p.firstErr = err
		}
	}
	start := time.Now()
	for done := int64(0); done < n && ctx.Err() == nil; {
		k := min(int64(cfg.TransactionRecords), n-done)
		if err := cl.BeginTransaction(); err != nil {
			fail(n-done, fmt.Errorf("begin transaction: %w", err))
			break
		}
		produceErr.Store(nil)
		for i := range k {
			recs[i] = kgo.Record{Topic: cfg.Topic, Value: value}
			sent[i] = time.Now()
			cl.Produce(ctx, &recs[i], promise)
		}
		// EndTransaction flushes first; a failed produce turns the commit into an abort.
		try := kgo.TryCommit
		if err := cl.Flush(ctx); err != nil || produceErr.Load() != nil {
			try = kgo.TryAbort
		}
		err := cl.EndTransaction(ctx, try)
		switch {
		case err == nil && try == kgo.TryCommit:
			res.Transactions++
			now := time.Now()
			for i := range k {
				rec.Record(now.Sub(sent[i]))
			}
			p.acked.Add(k)
			p.bytes.Add(k * int64(cfg.Size))
		case err != nil:
			fail(k, fmt.Errorf("end transaction: %w", err))
		default:
			fail(k, fmt.Errorf("transaction aborted: %w", *produceErr.Load()))
		}
		done += k
	}
	res.Elapsed = time.Since(start)
	res.Messages = p.acked.Load()
	res.Bytes = p.bytes.Load()
	res.Errors = p.failed.Load()
	res.FirstError = p.firstErr
	res.Latency = rec.Percentiles()
	return res, ctx.Err()
}

// fillRandom fills b with pseudo-random bytes (incompressible payloads, as
// Kafka's perf tool uses).
func fillRandom(b []byte) {
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
}

// ensureTopic creates cfg.Topic with cfg.Partitions partitions and the
// broker's default replication factor, unless it exists.
func ensureTopic(ctx context.Context, cfg Config) error {
	cl, err := kgo.NewClient(cfg.ClientOpts...)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, cfg.Partitions, -1, nil, cfg.Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", cfg.Topic, err)
	}
	return nil
}

// listOffsets returns the end (or start) offset of every partition of
// cfg.Topic; a missing topic yields an empty map.
func listOffsets(ctx context.Context, cfg Config, end bool) (map[int32]int64, error) {
	cl, err := kgo.NewClient(cfg.ClientOpts...)
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	list := adm.ListStartOffsets
	if end {
		list = adm.ListEndOffsets
	}
	lo, err := list(ctx, cfg.Topic)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", cfg.Topic, err)
	}
	out := make(map[int32]int64)
	var first error
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			if !errors.Is(o.Err, kerr.UnknownTopicOrPartition) && first == nil {
				first = o.Err
			}
			return
		}
		out[o.Partition] = o.Offset
	})
	if first != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", cfg.Topic, first)
	}
	return out, nil
}

// countRecords returns the number of offsets between the start and end of
// every partition of cfg.Topic (0 if it does not exist).
func countRecords(ctx context.Context, cfg Config) (int64, error) {
	starts, err := listOffsets(ctx, cfg, false)
	if err != nil {
		return 0, err
	}
	ends, err := listOffsets(ctx, cfg, true)
	if err != nil {
		return 0, err
	}
	var n int64
	for p, e := range ends {
		n += max(e-starts[p], 0)
	}
	return n, nil
}
