package stream

// Which exchanges must repartition.
//
// A grouping (GroupByKey, CombinePerKey, a join, a table, ProcessKeyed) sees every element of
// a key only if the elements of that key all reach one task. Input topics are taken to be
// partitioned by their record keys (Kafka's default partitioner, and Kafka Streams' own
// assumption), so a grouping whose input still carries the keys the source read needs no
// repartitioning: its exchange can stay local. Once a transform may have changed the key,
// the exchange must route elements by their new key between tasks (a repartition topic,
// for the Kafka runner), or the grouping silently groups within each input partition.
//
// The pipeline tracks this per stream: Map, FlatMap, KeyBy, ParDo (and their extra outputs)
// and ProcessKeyed may change the key; MapValues, Filter, WindowInto, Flatten and sinks keep
// what their inputs had; sources, exchanges and the outputs of groupings are partitioned by
// their key. MarkAsPartitioned declares a stream partitioned by its key anyway (the key
// change kept the partitioning, for example a re-key that is a function of the old key's
// partition), as Kafka Streams' markAsPartitioned does.

// keyChangingOps are the transforms whose output may be keyed differently from their input.
var keyChangingOps = map[string]bool{
	"Map": true, "KeyBy": true, "FlatMap": true, "ParDo": true, "ParDo2": true, "ParDo3": true,
	"out2": true, "out3": true, "Keys": true, "Values": true, "ProcessKeyed": true,
}

// partitionedOps are transforms whose output is partitioned by its key whatever their input.
var partitionedOps = map[string]bool{
	"MarkAsPartitioned": true, "CombinePerKey": true, "Table": true, "ToTable": true, "JoinTables": true,
}

// rekeyed reports whether the elements of n may be keyed differently from how they are
// partitioned between tasks.
func (p *Pipeline) rekeyed(n *node, memo map[*node]bool) bool {
	if v, ok := memo[n]; ok {
		return v
	}
	memo[n] = false // cycles cannot occur, but keep the walk finite
	var v bool
	switch {
	case n.kind == kindSource || n.kind == kindExchange || partitionedOps[n.op]:
		v = false
	case keyChangingOps[n.op]:
		v = true
	default:
		for _, in := range n.inputs {
			if p.rekeyed(in, memo) {
				v = true
				break
			}
		}
	}
	memo[n] = v
	return v
}

// NeedsRepartition reports whether the named exchange must route its elements between tasks
// because a transform before it may have changed their keys (see MarkAsPartitioned). It is
// false for an unknown name.
func (p *Pipeline) NeedsRepartition(exchange string) bool {
	n, ok := p.names[exchange]
	if !ok || n.kind != kindExchange || len(n.inputs) == 0 {
		return false
	}
	return p.rekeyed(n.inputs[0], map[*node]bool{})
}

// RepartitionedExchanges lists the exchanges that NeedsRepartition, in graph order.
func (p *Pipeline) RepartitionedExchanges() []string {
	var out []string
	memo := map[*node]bool{}
	for _, n := range p.nodes {
		if n.kind == kindExchange && len(n.inputs) > 0 && p.rekeyed(n.inputs[0], memo) {
			out = append(out, n.name)
		}
	}
	return out
}

// MarkAsPartitioned declares that s is partitioned between tasks by its key although a
// transform before it may have changed the key, so the next grouping needs no repartitioning
// (Kafka Streams' markAsPartitioned, KIP-759). Declaring it wrongly makes groupings see only
// the elements of a key that reached their task.
func MarkAsPartitioned[K, V any](s Stream[KV[K, V]], opts ...Option) Stream[KV[K, V]] {
	return Filter(s, func(KV[K, V]) bool { return true }, withDefaultName(opts, "MarkAsPartitioned")...)
}
