package stream

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Table is a keyed, continuously updated view: the current value of each key. Tables come
// from compacted topics (ReadTable), from keyed streams (ToTable, for example the output of
// an aggregation) and from joins of tables (JoinTables). A table's changes flow on as a
// changelog (ToStream); its current state can be read by key from the running application
// (Lookup).
//
// A table's state is held by the task that owns the key (tables are keyed like the
// exchanges before them); streams joined with a table must be partitioned the same way
// (co-partitioned), as in Kafka Streams.
type Table[K comparable, V any] struct {
	n *node
}

// Name returns the table's transform name.
func (t Table[K, V]) Name() string {
	if t.n == nil {
		return ""
	}
	return t.n.name
}

// TableUpdate is one record of a table's input: an upsert, or a delete (a Kafka tombstone).
type TableUpdate[K, V any] struct {
	Key    K
	Value  V
	Delete bool
}

// TableSource describes a compacted topic read as a table: record key -> value, a record
// with a nil value deletes its key.
type TableSource[K comparable, V any] struct {
	// Name identifies the source (unique in the pipeline) and the table.
	Name string
	// Topic is the Kafka topic; default Name.
	Topic string
	// Key and Value decode record keys and values; defaults CoderFor.
	Key   Coder[K]
	Value Coder[V]
	// MaxOutOfOrderness and IdleTimeout as in Source.
	MaxOutOfOrderness time.Duration
	IdleTimeout       time.Duration
}

// Source returns the Source of the table's updates (streamtest feeds it).
func (ts TableSource[K, V]) Source() Source[TableUpdate[K, V]] {
	kc, vc := ts.Key, ts.Value
	if kc == nil {
		kc = CoderFor[K]()
	}
	if vc == nil {
		vc = CoderFor[V]()
	}
	return Source[TableUpdate[K, V]]{
		Name: ts.Name, Topic: ts.Topic, MaxOutOfOrderness: ts.MaxOutOfOrderness, IdleTimeout: ts.IdleTimeout,
		Decode: func(r *Record) (TableUpdate[K, V], error) {
			var u TableUpdate[K, V]
			k, err := kc.Decode(r.Key)
			if err != nil {
				return u, fmt.Errorf("table key: %w", err)
			}
			u.Key = k
			if r.Value == nil {
				u.Delete = true
				return u, nil
			}
			if u.Value, err = vc.Decode(r.Value); err != nil {
				return u, fmt.Errorf("table value: %w", err)
			}
			return u, nil
		},
	}
}

// ReadTable reads a compacted topic as a table.
func ReadTable[K comparable, V any](p *Pipeline, src TableSource[K, V], opts ...Option) Table[K, V] {
	s := Read(p, src.Source())
	o := collect(opts)
	kc, vc := src.Key, src.Value
	if kc == nil {
		kc = coderOpt[K](p, src.Name, o.keyCoder)
	}
	if vc == nil {
		vc = coderOpt[V](p, src.Name, o.valueCoder)
	}
	name := o.name
	if name == "" {
		name = "table:" + src.Name
	}
	n := p.add(&node{inputs: []*node{s.n}, newPort: newFanout[tchange[K, V]], ws: ptr(defaultWindowing())}, name, "Table")
	n.table = tableCoders[K, V]{kc, vc}
	n.build = func(b *builder) (operator, error) {
		t := newTableOp[K, V](b, kc, vc)
		inPort[TableUpdate[K, V]](b, s.n).add(consumerFunc[TableUpdate[K, V]](func(e Elem[TableUpdate[K, V]]) {
			if e.Value.Delete {
				t.remove(e.Value.Key, e.Time)
			} else {
				t.upsert(e.Value.Key, e.Value.Value, e.Time)
			}
		}))
		return t, nil
	}
	return Table[K, V]{n}
}

type consumerFunc[T any] func(Elem[T])

func (f consumerFunc[T]) push(e Elem[T]) { f(e) }

// ToTable materializes a keyed stream as a table: each element upserts its key; a
// retraction deletes its key (an accumulating-and-retracting aggregation thus yields its
// latest value per key). Key the stream by (key, window) first to keep windows apart.
func ToTable[K comparable, V any](s Stream[KV[K, V]], opts ...Option) Table[K, V] {
	o := collect(opts)
	in, p := s.n, s.Pipeline()
	if p == nil || !p.check("ToTable", in) {
		return Table[K, V]{}
	}
	name := o.name
	if name == "" {
		name = uniqueName(p, "ToTable")
	}
	kc := coderOpt[K](p, name, o.keyCoder)
	vc := coderOpt[V](p, name, o.valueCoder)
	x := exchangeBy(s, kc, vc, name)
	n := p.add(&node{inputs: []*node{x.n}, newPort: newFanout[tchange[K, V]], ws: ptr(defaultWindowing())}, name, "ToTable")
	n.table = tableCoders[K, V]{kc, vc}
	n.build = func(b *builder) (operator, error) {
		t := newTableOp[K, V](b, kc, vc)
		inPort[KV[K, V]](b, x.n).add(consumerFunc[KV[K, V]](func(e Elem[KV[K, V]]) {
			if e.Retraction {
				t.remove(e.Value.Key, e.Time)
			} else {
				t.upsert(e.Value.Key, e.Value.Value, e.Time)
			}
		}))
		return t, nil
	}
	return Table[K, V]{n}
}

// tchange is one change of a table, flowing from a table to its consumers.
type tchange[K, V any] struct {
	key            K
	new, old       V
	hasNew, hasOld bool
}

// tableOp holds a table's rows.
type tableOp[K comparable, V any] struct {
	ex      *Executor
	name    string
	prefix  []byte
	kc      Coder[K]
	vc      Coder[V]
	rows    map[K]V
	dirty   map[K]bool
	out     *fanout[tchange[K, V]]
	updates int64
}

func newTableOp[K comparable, V any](b *builder, kc Coder[K], vc Coder[V]) *tableOp[K, V] {
	return &tableOp[K, V]{ex: b.ex, name: b.node.name, prefix: append(opPrefix(b.node.name), 'v'),
		kc: kc, vc: vc, rows: map[K]V{}, dirty: map[K]bool{}, out: outPort[tchange[K, V]](b)}
}

func (t *tableOp[K, V]) upsert(k K, v V, ts Time) {
	old, had := t.rows[k]
	t.rows[k] = v
	t.dirty[k] = true
	t.updates++
	t.out.push(Elem[tchange[K, V]]{Value: tchange[K, V]{key: k, new: v, old: old, hasNew: true, hasOld: had}, Time: ts, Window: GlobalWindow})
}

func (t *tableOp[K, V]) remove(k K, ts Time) {
	old, had := t.rows[k]
	if !had {
		return
	}
	delete(t.rows, k)
	t.dirty[k] = true
	t.updates++
	t.out.push(Elem[tchange[K, V]]{Value: tchange[K, V]{key: k, old: old, hasOld: true}, Time: ts, Window: GlobalWindow})
}

func (t *tableOp[K, V]) get(k K) (V, bool) {
	v, ok := t.rows[k]
	return v, ok
}

func (t *tableOp[K, V]) onWatermark(in Time) Time { return in }
func (t *tableOp[K, V]) onProcessingTime(Time)    {}
func (t *tableOp[K, V]) counters(add func(string, int64)) {
	add("rows", int64(len(t.rows)))
	add("updates", t.updates)
}

func (t *tableOp[K, V]) flush() error {
	// Sorted for a deterministic write order.
	keys := make([][]byte, 0, len(t.dirty))
	vals := map[string]*V{}
	for k := range t.dirty {
		kb, err := t.kc.Encode(k)
		if err != nil {
			return fmt.Errorf("encode key: %w", err)
		}
		key := append(append([]byte(nil), t.prefix...), kb...)
		keys = append(keys, key)
		if v, ok := t.rows[k]; ok {
			vals[string(key)] = &v
		}
	}
	sort.Slice(keys, func(i, j int) bool { return string(keys[i]) < string(keys[j]) })
	for _, key := range keys {
		v := vals[string(key)]
		if v == nil {
			if err := t.ex.store.Delete(key); err != nil {
				return err
			}
			continue
		}
		vb, err := t.vc.Encode(*v)
		if err != nil {
			return fmt.Errorf("encode value: %w", err)
		}
		if err := t.ex.store.Put(key, vb); err != nil {
			return err
		}
	}
	clear(t.dirty)
	return nil
}

func (t *tableOp[K, V]) restore() error {
	return t.ex.store.Scan(t.prefix, func(key, val []byte) error {
		k, err := t.kc.Decode(key[len(t.prefix):])
		if err != nil {
			return fmt.Errorf("decode key: %w", err)
		}
		v, err := t.vc.Decode(val)
		if err != nil {
			return fmt.Errorf("decode value: %w", err)
		}
		t.rows[k] = v
		return nil
	})
}

// tableOf returns the table operator of t inside ex.
func tableOf[K comparable, V any](ex *Executor, n *node) (*tableOp[K, V], error) {
	if n == nil || n.p != ex.p {
		return nil, errors.New("stream: table of another pipeline")
	}
	t, ok := ex.ops[n.id].(*tableOp[K, V])
	if !ok {
		return nil, fmt.Errorf("stream: %s is not a table of %T", n.name, *new(V))
	}
	return t, nil
}

// Lookup returns the current value of key k in table t, as held by this executor (the task
// that owns k). Like every Executor method it must not run concurrently with processing.
func Lookup[K comparable, V any](ex *Executor, t Table[K, V], k K) (V, bool, error) {
	op, err := tableOf[K, V](ex, t.n)
	if err != nil {
		var zero V
		return zero, false, err
	}
	v, ok := op.get(k)
	return v, ok, nil
}

// tableCoders are a table's key and value coders.
type tableCoders[K comparable, V any] struct {
	kc Coder[K]
	vc Coder[V]
}

// LookupStored reads the value of key k in table t from a Store holding a checkpoint of an
// executor that runs t (Executor.Flush): the value as of that checkpoint. A runner uses it
// to answer from a copy of a task's state without an executor (a standby replica).
func LookupStored[K comparable, V any](st Store, t Table[K, V], k K) (V, bool, error) {
	var zero V
	if t.n == nil {
		return zero, false, fmt.Errorf("stream: zero Table")
	}
	c, ok := t.n.table.(tableCoders[K, V])
	if !ok {
		return zero, false, fmt.Errorf("stream: %s is not a table of %T to %T", t.n.name, *new(K), zero)
	}
	kb, err := c.kc.Encode(k)
	if err != nil {
		return zero, false, fmt.Errorf("stream: encode key: %w", err)
	}
	b, err := st.Get(append(append(opPrefix(t.n.name), 'v'), kb...))
	if errors.Is(err, ErrNotFound) {
		return zero, false, nil
	}
	if err != nil {
		return zero, false, err
	}
	v, err := c.vc.Decode(b)
	if err != nil {
		return zero, false, fmt.Errorf("stream: decode value of table %s: %w", t.n.name, err)
	}
	return v, true, nil
}

// TableRows returns a copy of every row of table t held by this executor.
func TableRows[K comparable, V any](ex *Executor, t Table[K, V]) (map[K]V, error) {
	op, err := tableOf[K, V](ex, t.n)
	if err != nil {
		return nil, err
	}
	out := make(map[K]V, len(op.rows))
	for k, v := range op.rows {
		out[k] = v
	}
	return out, nil
}

// ChangeOp is the kind of a changelog element.
type ChangeOp uint8

const (
	// Upsert sets Key to Value.
	Upsert ChangeOp = iota
	// Delete removes Key (Value is the removed value).
	Delete
	// Retract withdraws Value for Key; an Upsert of the new value follows unless the key was
	// deleted. Retract elements also have Elem.Retraction set.
	Retract
)

func (o ChangeOp) String() string {
	switch o {
	case Delete:
		return "DELETE"
	case Retract:
		return "RETRACT"
	}
	return "UPSERT"
}

// Change is one element of a table's changelog.
type Change[K, V any] struct {
	Op    ChangeOp
	Key   K
	Value V
}

func (c Change[K, V]) String() string { return fmt.Sprintf("%s %v=%v", c.Op, c.Key, c.Value) }

// ChangelogMode selects how ToStream renders updates.
type ChangelogMode uint8

const (
	// Upserts: an update is one Upsert with the new value; a delete is one Delete (Kafka
	// Streams' KTable.toStream, a tombstone).
	Upserts ChangelogMode = iota
	// Retractions: an update is a Retract of the old value followed by an Upsert of the new;
	// a delete is a Retract of the old value. Summing Upserts minus Retracts per key gives
	// the current table.
	Retractions
)

// ToStream turns a table into its changelog stream.
func ToStream[K comparable, V any](t Table[K, V], mode ChangelogMode, opts ...Option) Stream[Change[K, V]] {
	o := collect(opts)
	in := t.n
	if in == nil {
		return Stream[Change[K, V]]{}
	}
	p := in.p
	n := p.add(&node{inputs: []*node{in}, newPort: newFanout[Change[K, V]], ws: ptr(defaultWindowing())}, o.name, o.kind("ToStream"))
	n.build = func(b *builder) (operator, error) {
		out := outPort[Change[K, V]](b)
		inPort[tchange[K, V]](b, in).add(consumerFunc[tchange[K, V]](func(e Elem[tchange[K, V]]) {
			c := e.Value
			meta := Elem[Change[K, V]]{Time: e.Time, Window: e.Window}
			switch mode {
			case Retractions:
				if c.hasOld {
					m := meta
					m.Value, m.Retraction = Change[K, V]{Op: Retract, Key: c.key, Value: c.old}, true
					out.push(m)
				}
				if c.hasNew {
					m := meta
					m.Value = Change[K, V]{Op: Upsert, Key: c.key, Value: c.new}
					out.push(m)
				}
			default:
				m := meta
				if c.hasNew {
					m.Value = Change[K, V]{Op: Upsert, Key: c.key, Value: c.new}
				} else {
					m.Value = Change[K, V]{Op: Delete, Key: c.key, Value: c.old}
				}
				out.push(m)
			}
		}))
		return stateless{}, nil
	}
	return Stream[Change[K, V]]{n}
}
